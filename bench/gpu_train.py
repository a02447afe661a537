"""Training steps for every laptop spec on a CUDA GPU: fp32, then bf16 autocast under torch.compile.

For each spec in specs/ (never specs/reference/; anything whose estimated training memory is over
`--cap-gib` is skipped and listed) it builds the module, makes random batches shaped like the spec's
inputs with targets for the task its first output implies (class ids, per-node classes, next tokens
or values), and runs full training steps of cramnet's loop — the task loss plus the blocks'
auxiliary losses, backward, gradient clipping, AdamW — reporting whether it ran, the median step
time and the peak memory. Needs only torch and cramnet (no data sets are downloaded or read).

    python bench/gpu_train.py                       # CUDA: fp32, then bf16 + torch.compile
    python bench/gpu_train.py --device cpu --no-compile --only mlp,karate_gcn   # the CPU dry run
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cramnet.compiler import check_spec  # noqa: E402
from cramnet.compiler.trial import batched_shape, random_inputs  # noqa: E402
from cramnet.train.config import defaults  # noqa: E402
from cramnet.train.data.splits import Batch  # noqa: E402
from cramnet.train.engine import make_optimizer  # noqa: E402
from cramnet.train.tasks import Task  # noqa: E402


def task_and_target(checked, sizes: dict, batch: int, device: torch.device) -> tuple[Task, torch.Tensor]:
    """The task the first output implies, and random targets for it."""
    name, kind = next(iter(checked.output_types.items()))
    shape = batched_shape(kind, sizes, batch)
    if kind.kind == "graph":
        return Task("node_classification", name, 0, "cross_entropy", shape[-1]), torch.randint(
            0, shape[-1], shape[:-1], device=device
        )
    if len(shape) == 2 and shape[-1] > 1:
        return Task("classification", name, 0, "cross_entropy", shape[-1]), torch.randint(
            0, shape[-1], shape[:1], device=device
        )
    if len(shape) == 3 and shape[-1] > 1:
        return Task("token_classification", name, 0, "cross_entropy", shape[-1]), torch.randint(
            0, shape[-1], shape[:2], device=device
        )
    return Task("regression", name, 0, "mse"), torch.randn(shape, device=device)


def run_steps(checked, sizes, batch, device, steps, precision, compiled) -> tuple[float, float]:
    """Median step time (ms) and peak memory (MiB) of `steps` training steps after a warm-up."""
    module = checked.build(seed=0).to(device)
    runner = torch.compile(module) if compiled else module
    optimizer = make_optimizer(
        module.parameters(), {**defaults(), "optimizer": {**defaults()["optimizer"], "lr": 1e-3}}
    )
    inputs = random_inputs(checked, sizes, batch, device)
    task, target = task_and_target(checked, sizes, batch, device)
    data = Batch(dict(zip(checked.inputs, inputs)), target)
    cuda = device.type == "cuda"
    times = []
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(steps + 1):  # the first step pays compilation and warm-up
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            outputs = runner(*inputs)
            loss, _ = task.loss_and_counts(outputs, data, checked.inputs[0])
        aux = module.aux_losses()
        total = loss + 0.01 * sum(v.float() for v in aux.values()) if aux else loss
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        if cuda:
            torch.cuda.synchronize(device)
        if step:
            times.append((time.perf_counter() - start) * 1000)
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss {float(total)}")
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128, help="value of every run-time size (seq, atoms …)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cap-gib", type=float, default=20.0, help="skip specs estimated above this memory")
    parser.add_argument("--no-compile", action="store_true", help="skip the bf16 + torch.compile pass")
    parser.add_argument("--only", default="", help="comma-separated spec names (file stems) to run")
    parser.add_argument("--debug", action="store_true", help="print the traceback of a spec that fails")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: use --device cpu for a dry run")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"{name}, torch {torch.__version__}, {datetime.date.today()}, batch {args.batch}, "
        f"run-time sizes {args.size}, {args.steps} steps\n"
    )
    second = "bf16 + compile" if not args.no_compile else "bf16"
    print(f"| spec | params | ran | fp32 step (ms) | fp32 peak (MiB) | {second} step (ms) | {second} peak (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    skipped, failed = [], 0
    for path in sorted(p for p in (ROOT / "specs").rglob("*.cram") if "reference" not in p.parts):
        if only and path.stem not in only:
            continue
        try:
            checked = check_spec(path)
            sizes = {s: args.size for s in checked.summary().unresolved}
            summary = checked.summary(sizes, args.batch)
        except Exception as error:  # a spec that does not check is reported, not fatal
            print(f"| {path.name} | - | no: {type(error).__name__} | | | | |", flush=True)
            failed += 1
            continue
        if not isinstance(summary.memory["total"], int) or summary.memory["total"] > args.cap_gib * 2**30:
            skipped.append(path.name)
            continue
        row = f"| {path.name} | {summary.params:,} |"
        try:
            fp32, peak32 = run_steps(checked, sizes, args.batch, device, args.steps, "fp32", False)
            bf16, peak16 = run_steps(checked, sizes, args.batch, device, args.steps, "bf16", not args.no_compile)
            row += f" yes | {fp32:.2f} | {peak32:.0f} | {bf16:.2f} | {peak16:.0f} |"
        except Exception as error:
            row += f" no: {type(error).__name__}: {str(error).splitlines()[0][:120]} | | | | |"
            failed += 1
            if args.debug:
                traceback.print_exc()
        print(row, flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if skipped:
        print(f"\nskipped (estimated memory over {args.cap_gib} GiB at batch {args.batch}): {', '.join(skipped)}")
    print(f"\n{failed} spec(s) failed")


if __name__ == "__main__":
    main()
