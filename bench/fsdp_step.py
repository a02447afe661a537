"""FSDP on one GPU against plain training: step time and peak memory of a ~1B-parameter Llama-shaped
spec (16 layers of width 2048, SwiGLU 5632, vocabulary 32000: 0.95B parameters), AdamW, bf16.

    plain        fp32 weights, bf16 autocast, AdamW — what `cramnet train --precision bf16` runs
    fsdp         FSDP2 with a world of one: bf16 weights in compute, fp32 shards and reductions
    fsdp+ckpt    the same with each layer's activations recomputed (distributed.checkpoint_layers)

Each mode runs in a fresh process; the median of the timed steps and torch.cuda.max_memory_allocated
are printed beside the memory plan `cramnet summary --nproc 1 --strategy fsdp` gives, as one table.

    python bench/fsdp_step.py                      # on the GPU (about 3 minutes on an H100/H200)
    python bench/fsdp_step.py --tiny --device cpu  # the CPU dry run (a 4-layer width-64 twin)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SPEC = """
use "std:transformer"

model llama_1b {{
    input ids: tokens[seq]
    ids -> embed({vocab}, {width})
        -> llama_layer({width}, {heads}, {ffn}) * {layers}
        -> rmsnorm(eps = 1e-5)
        -> dense({vocab}, bias = false) as logits
    output logits
}}
"""
FULL = {"vocab": 32000, "width": 2048, "heads": 16, "ffn": 5632, "layers": 16}
TINY = {"vocab": 256, "width": 64, "heads": 4, "ffn": 172, "layers": 4}
MODES = ("plain", "fsdp", "fsdp+ckpt")


def one_mode(args) -> dict:
    from cramnet.compiler import check_spec
    from cramnet.train.config import apply_sets, defaults
    from cramnet.train.distributed import join, leave
    from cramnet.train.engine import make_optimizer
    from cramnet.train.memory_plan import plan_from_config
    from cramnet.train.sharding import build_sharded

    device = torch.device(args.device)
    checked = check_spec(SPEC.format(**(TINY if args.tiny else FULL)), path=str(ROOT / "bench" / "llama_1b.cram"))
    sets = ["precision=bf16", f"batch_size={args.batch}", "optimizer.lr=1e-4"]
    if args.mode != "plain":
        sets += ["distributed.strategy=fsdp"]
    if args.mode == "fsdp+ckpt":
        sets += ["distributed.checkpoint_layers=true"]
    config = apply_sets(defaults(), sets)
    plan = plan_from_config(checked, config, 1, {"seq": args.seq})
    if args.mode == "plain":
        model = checked.build(seed=0).to(device)
    else:
        model = build_sharded(checked, 0, device, join(device, always=True), config)
    optimizer = make_optimizer(model.parameters(), config)
    vocab = (TINY if args.tiny else FULL)["vocab"]
    ids = torch.randint(0, vocab, (args.batch, args.seq + 1), generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(args.warmup + args.steps):
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if args.mode != "plain":
        leave()
    return {
        "mode": args.mode,
        "params": plan.params,
        "step_ms": 1000 * statistics.median(times),
        "spread_ms": 1000 * (max(times) - min(times)),
        "peak_gib": None if peak is None else peak / 2**30,
        "plan_gib": plan.total / 2**30,
        "loss": float(loss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a 4-layer width-64 twin (CPU dry run)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mode", choices=MODES, help="run one mode in this process (used by the driver)")
    args = parser.parse_args()
    if args.tiny:
        args.seq = min(args.seq, 32)
    if args.mode:
        print(json.dumps(one_mode(args)))
        return
    rows = []
    for mode in MODES:  # a fresh process each: peak memory and allocator state of one mode only
        argv = [sys.executable, __file__, "--mode", mode, "--device", args.device, "--batch", str(args.batch)]
        argv += ["--seq", str(args.seq), "--steps", str(args.steps), "--warmup", str(args.warmup)]
        argv += ["--tiny"] if args.tiny else []
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{mode}: failed\n{done.stderr[-2000:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'mode':<10} {'params':>14} {'step ms':>9} {'spread':>8} {'peak GiB':>9} {'plan GiB':>9} {'loss':>7}")
    for row in rows:
        peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.2f}"
        print(
            f"{row['mode']:<10} {row['params']:>14,} {row['step_ms']:>9.1f} {row['spread_ms']:>8.1f} "
            f"{peak:>9} {row['plan_gib']:>9.2f} {row['loss']:>7.3f}"
        )


if __name__ == "__main__":
    main()
