"""Peak memory of loading published weights into a Llama-shaped spec: TinyLlama-1.1B's shape (22
Llama layers of width 2048, 32 heads, 4 key/value heads, SwiGLU 5632, vocabulary 32,000), or
OpenLLaMA-3B's (26 layers of width 3200, 32 heads, SwiGLU 8640; 3.4B parameters, 12.8 GiB in fp32).

    python bench/weights_rss.py [--shape tinyllama-1.1b|openllama-3b] [--dir DIR] [--dtype bf16]

Writes a random checkpoint in the Hugging Face layout (sharded per layer, as save_pretrained
shards a large model; bf16 by default), then loads it in fresh processes: `meta` (the default of
compile_spec(weights=…): build on the meta device, take the checkpoint's tensors) and `cpu` (build
with random weights first, then copy in). Reported: each process's peak RSS (ru_maxrss) beside the
fp32 size of the model. TinyLlama needs ~2.2 GB of disk (bf16) and ~10 GB of memory for the `cpu`
run; OpenLLaMA-3B ~6.9 GB of disk and ~14 GB of memory (`--modes meta`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# layers, width, SwiGLU width, vocabulary, heads, key/value heads
SHAPES = {"tinyllama-1.1b": (22, 2048, 5632, 32000, 32, 4), "openllama-3b": (26, 3200, 8640, 32000, 32, 32)}


def spec(shape: str) -> str:
    layers, d, hidden, vocab, heads, kv_heads = SHAPES[shape]
    return f"""
use "std:transformer"
model llama_shaped {{
    input ids: tokens[seq]
    ids -> embed({vocab}, {d})
        -> llama_layer({d}, {heads}, {hidden}, kv_heads = {kv_heads}) * {layers}
        -> rmsnorm(eps = 1e-5) -> dense({vocab}, bias = false) as logits
    output logits
}}
"""


def write_checkpoint(path: Path, dtype_name: str, shape: str) -> None:
    import torch
    from safetensors.torch import save_file

    LAYERS, D, HIDDEN, VOCAB, HEADS, KV_HEADS = SHAPES[shape]
    KV = D // HEADS * KV_HEADS

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    path.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}

    def shard(name: str, tensors: dict) -> None:
        save_file({k: (v * 0.02).to(dtype) for k, v in tensors.items()}, str(path / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, name))

    shard("embed.safetensors", {"model.embed_tokens.weight": torch.randn(VOCAB, D)})
    for k in range(LAYERS):
        h = f"model.layers.{k}."
        shapes = {
            "input_layernorm.weight": (D,),
            "post_attention_layernorm.weight": (D,),
            "self_attn.q_proj.weight": (D, D),
            "self_attn.k_proj.weight": (KV, D),
            "self_attn.v_proj.weight": (KV, D),
            "self_attn.o_proj.weight": (D, D),
            "mlp.gate_proj.weight": (HIDDEN, D),
            "mlp.up_proj.weight": (HIDDEN, D),
            "mlp.down_proj.weight": (D, HIDDEN),
        }
        shard(f"layer-{k:02d}.safetensors", {h + name: torch.randn(shape) for name, shape in shapes.items()})
    shard("head.safetensors", {"model.norm.weight": torch.ones(D), "lm_head.weight": torch.randn(VOCAB, D)})
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    config = {
        "model_type": "llama",
        "hidden_size": D,
        "intermediate_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
    }
    (path / "config.json").write_text(json.dumps(config))


def load(path: Path, meta: bool, shape: str) -> None:
    """(in a child process) Load, then print one JSON line of what it cost."""
    import torch

    from cramnet.compiler import check_spec
    from cramnet.weights import build_with_weights

    torch.set_num_threads(1)
    start = time.perf_counter()
    module, report = build_with_weights(check_spec(spec(shape)), path, meta=meta)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in module.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    assert not report.new and not report.unused
    print(json.dumps({"params": params, "fp32_gib": params * 4 / 2**30, "peak_rss_gib": peak, "seconds": seconds}))


def load_sharded(path: Path, shape: str) -> None:
    """(in each of two torchrun processes) Build the spec sharded with `init_from` = path, as
    `train --init-from PATH --strategy fsdp` does; rank 0 prints the largest peak RSS of the two."""
    import torch
    import torch.distributed as dist

    from cramnet.compiler import check_spec
    from cramnet.train import apply_sets, defaults
    from cramnet.train.distributed import join
    from cramnet.train.fine_tune import start_sharded
    from cramnet.train.sharding import build_sharded

    torch.set_num_threads(1)
    checked = check_spec(spec(shape))
    config = apply_sets(defaults(), ["distributed.strategy=fsdp", f"init_from={path}"])
    world = join(torch.device("cpu"), always=True)
    begin = time.perf_counter()
    start, _ = start_sharded(checked, config, load=True)
    module = build_sharded(checked, 0, torch.device("cpu"), world, config, start)
    seconds = time.perf_counter() - begin
    local = sum(p.to_local().numel() for p in module.parameters())
    peak = torch.tensor([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, local * 4 / 2**30])
    dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    if world.rank == 0:
        total = sum(p.numel() for p in module.parameters())  # the global sizes of the sharded parameters
        result = {"params": total, "fp32_gib": total * 4 / 2**30, "peak_rss_gib": float(peak[0]), "seconds": seconds}
        print(json.dumps(result | {"shard_gib": float(peak[1])}))
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="tinyllama-1.1b", choices=tuple(SHAPES))
    parser.add_argument("--dir", type=Path, default=None, help="default: /tmp/cramnet-SHAPE")
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"))
    parser.add_argument("--modes", default="meta,cpu")
    parser.add_argument("--child", choices=("meta", "cpu", "fsdp"))
    args = parser.parse_args()
    args.dir = args.dir or Path(f"/tmp/cramnet-{args.shape}")
    if args.child == "fsdp":
        load_sharded(args.dir, args.shape)
        return
    if args.child:
        load(args.dir, args.child == "meta", args.shape)
        return
    if not (args.dir / "config.json").exists():
        print(f"writing a random {args.dtype} checkpoint to {args.dir}", file=sys.stderr)
        write_checkpoint(args.dir, args.dtype, args.shape)
    print("| build | parameters | fp32 size | peak RSS | load time |\n| --- | --- | --- | --- | --- |")
    for mode in args.modes.split(","):
        # fsdp: two gloo processes, each building its half as a sharded fine-tune does; the larger peak
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        command = [*(launch if mode == "fsdp" else [sys.executable]), __file__, "--shape", args.shape]
        command += ["--dir", str(args.dir), "--child", mode]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        name = "fsdp, 2 processes (each)" if mode == "fsdp" else mode
        print(
            f"| {name} | {result['params']:,} | {result['fp32_gib']:.2f} GiB | {result['peak_rss_gib']:.2f} GiB "
            f"| {result['seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
