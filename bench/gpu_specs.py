"""Every laptop spec on a CUDA GPU: does it build and train a step, how fast, with how much memory,
and does it compute what the CPU computes.

For each spec in specs/ (never specs/reference/; anything whose estimated training memory is over
the cap is skipped and listed): build with fixed weights, run one forward+backward on random inputs
(batch `--batch`, run-time sizes `--size`), then time `--steps` more in fp32, in bf16 autocast,
and (with `--compile`) under torch.compile. Eval-mode outputs on the GPU are compared with the
CPU's (fp32, relative to the output's scale).

    python bench/gpu_specs.py              # prints a Markdown table
    python bench/gpu_specs.py --compile
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cramnet.compiler import check_spec  # noqa: E402
from cramnet.compiler.trial import random_inputs  # noqa: E402


def step(module, inputs) -> None:
    module.zero_grad(set_to_none=True)
    outputs = module(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    sum(o.float().square().mean() for o in outputs).backward()


def timed(module, inputs, steps: int, autocast: bool) -> float:
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        step(module, inputs)  # warm-up (and compilation, for torch.compile)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step(module, inputs)
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps * 1000


def to_cpu(value):
    """A tensor, or a graph object's tensors (x, edge_index, batch, …), on the CPU."""
    if torch.is_tensor(value):
        return value.cpu()
    return type(value)(**{k: v.cpu() if torch.is_tensor(v) else v for k, v in vars(value).items()})


def cpu_gpu_difference(checked, inputs_gpu) -> float:
    cpu = checked.build(seed=0).eval()
    gpu = checked.build(seed=0).cuda().eval()
    with torch.no_grad():
        a = cpu(*[to_cpu(x) for x in inputs_gpu])
        b = gpu(*inputs_gpu)
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    return max(float((x - y.cpu()).abs().max() / x.abs().max().clamp(min=1e-6)) for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="value of every run-time size (seq, …)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cap-gib", type=float, default=20.0, help="skip specs estimated above this memory")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (inductor)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: this script measures specs on a GPU")
    torch.backends.cuda.matmul.allow_tf32 = False
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {datetime.date.today()}, "
        f"batch {args.batch}, run-time sizes {args.size}\n"
    )
    header = (
        "| spec | params | fp32 step (ms) | bf16 step (ms) |"
        + (" compiled bf16 (ms) |" if args.compile else "")
        + " peak memory (MiB) | GPU vs CPU (max rel. diff) |"
    )
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    skipped = []
    for path in sorted(p for p in (ROOT / "specs").rglob("*.cram") if "reference" not in p.parts):
        checked = check_spec(path)
        symbols = {name: args.size for name in checked.summary().unresolved}
        summary = checked.summary(symbols, args.batch)
        if not isinstance(summary.memory["total"], int) or summary.memory["total"] > args.cap_gib * 2**30:
            skipped.append(path.name)
            continue
        module = checked.build(seed=0).cuda()
        inputs = random_inputs(checked, symbols, args.batch, torch.device("cuda"))
        torch.cuda.reset_peak_memory_stats()
        fp32 = timed(module, inputs, args.steps, autocast=False)
        peak = torch.cuda.max_memory_allocated() / 2**20
        bf16 = timed(module, inputs, args.steps, autocast=True)
        row = f"| {path.name} | {summary.params:,} | {fp32:.2f} | {bf16:.2f} |"
        if args.compile:
            compiled = torch.compile(checked.build(seed=0).cuda())
            row += f" {timed(compiled, inputs, args.steps, autocast=True):.2f} |"
        row += f" {peak:.0f} | {cpu_gpu_difference(checked, inputs):.1e} |"
        print(row, flush=True)
    if skipped:
        print(f"\nskipped (estimated memory over {args.cap_gib} GiB): {', '.join(skipped)}")


if __name__ == "__main__":
    main()
