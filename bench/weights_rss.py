"""Peak memory of loading published weights into a ~1B-parameter spec (TinyLlama-1.1B's shape:
22 Llama layers of width 2048, 32 heads, 4 key/value heads, SwiGLU 5632, vocabulary 32,000).

    python bench/weights_rss.py [--dir /tmp/tinyllama-bf16] [--dtype bf16]

Writes a random checkpoint in the Hugging Face layout (sharded per layer, as save_pretrained
shards a large model; bf16 by default), then loads it in fresh processes: `meta` (the default of
compile_spec(weights=…): build on the meta device, take the checkpoint's tensors) and `cpu` (build
with random weights first, then copy in). Reported: each process's peak RSS (ru_maxrss) beside the
fp32 size of the model. Needs ~2.2 GB of disk (bf16) and ~10 GB of memory for the `cpu` run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SPEC = """
use "std:transformer"
model tinyllama {
    input ids: tokens[seq]
    ids -> embed(32000, 2048)
        -> llama_layer(2048, 32, 5632, kv_heads = 4) * 22
        -> rmsnorm(eps = 1e-5) -> dense(32000, bias = false) as logits
    output logits
}
"""
LAYERS, D, HIDDEN, VOCAB, KV = 22, 2048, 5632, 32000, 256


def write_checkpoint(path: Path, dtype_name: str) -> None:
    import torch
    from safetensors.torch import save_file

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
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
    }
    (path / "config.json").write_text(json.dumps(config))


def load(path: Path, meta: bool) -> None:
    """(in a child process) Load, then print one JSON line of what it cost."""
    import torch

    from cramnet.compiler import check_spec
    from cramnet.weights import build_with_weights

    torch.set_num_threads(1)
    start = time.perf_counter()
    module, report = build_with_weights(check_spec(SPEC), path, meta=meta)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in module.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    assert not report.new and not report.unused
    print(json.dumps({"params": params, "fp32_gib": params * 4 / 2**30, "peak_rss_gib": peak, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/cramnet-tinyllama"))
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"))
    parser.add_argument("--modes", default="meta,cpu")
    parser.add_argument("--child", choices=("meta", "cpu"))
    args = parser.parse_args()
    if args.child:
        load(args.dir, args.child == "meta")
        return
    if not (args.dir / "config.json").exists():
        print(f"writing a random {args.dtype} checkpoint to {args.dir}", file=sys.stderr)
        write_checkpoint(args.dir, args.dtype)
    print("| build | parameters | fp32 size | peak RSS | load time |\n| --- | --- | --- | --- | --- |")
    for mode in args.modes.split(","):
        command = [sys.executable, __file__, "--dir", str(args.dir), "--child", mode]
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {mode} | {result['params']:,} | {result['fp32_gib']:.2f} GiB | {result['peak_rss_gib']:.2f} GiB "
            f"| {result['seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
