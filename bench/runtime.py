"""Run-time cost of generated code: a compiled spec against its hand-written twin.

For each spec in `tests.twins.TWINS` (and resnet_digits again at a larger batch), both modules get
the same weights and the same inputs and are timed on one training step — forward, cross-entropy,
backward — in train mode, in one process. After a warm-up the two are timed in interleaved pairs
(compiled, twin; then twin, compiled; …) so drift in the machine's speed hits both alike. Each
sample runs enough steps to last `--sample-ms`, so tiny models are not lost in timer noise.

Reported per case: the median time per step of each, the ratio compiled/twin as the median of the
per-pair ratios, its spread (interquartile range of the per-pair ratios, in %), and a 95%
confidence interval of that median (order statistics), and the peak memory of one step of each.
The design's target is a ratio ≤ 1.02.

    python bench/runtime.py                      # CPU, one thread
    python bench/runtime.py --threads 2 --repeats 300
    python bench/runtime.py --device cuda --markdown
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timing import quantile  # noqa: E402
from torch import nn  # noqa: E402

from cramnet.compiler import compile_spec  # noqa: E402
from tests.twins import TWINS, copy_weights  # noqa: E402

HEAVY_SPEC = "specs/resnet_digits.cram"
TARGET = 1.02


@dataclass
class Result:
    spec: str
    batch: int
    steps: int  # training steps per timed sample
    compiled_ms: float  # median per step
    twin_ms: float
    ratio: float  # median of per-pair ratios
    iqr_pct: float  # interquartile range of per-pair ratios, in %
    ci_low: float  # 95% confidence interval of the median ratio
    ci_high: float
    compiled_peak_mib: float | None  # peak memory of one step above the weights; None: not measured
    twin_peak_mib: float | None

    @property
    def verdict(self) -> str:
        if self.ci_high <= TARGET:
            return f"meets ≤ {TARGET}"
        if self.ratio <= TARGET:
            return f"≤ {TARGET}, within noise"
        if self.ci_low <= TARGET:
            return f"> {TARGET}, within noise"
        return f"misses ≤ {TARGET}"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def time_sample(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, device: torch.device) -> float:
    """Seconds for `steps` training steps, the device drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, x, y)
    synchronize(device)
    return time.perf_counter() - start


def median_confidence_interval(sorted_values: list[float]) -> tuple[float, float]:
    """Distribution-free 95% interval of the median: the order statistics of ranks (1-based)
    n/2 − 1.96·√n/2 and 1 + n/2 + 1.96·√n/2, rounded (for n = 100: the 40th and 61st)."""
    n = len(sorted_values)
    half_width = 1.96 * math.sqrt(n) / 2
    low = max(0, round(n / 2 - half_width) - 1)
    high = min(n - 1, round(n / 2 + half_width))
    return sorted_values[low], sorted_values[high]


def measure(spec: str, batch: int, args: argparse.Namespace, device: torch.device) -> Result:
    twin_class, shape = TWINS[spec]
    compiled, twin = compile_spec(ROOT / spec, seed=0), twin_class()
    copy_weights(compiled, twin)
    compiled.to(device)
    twin.to(device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *shape, generator=generator).to(device)
    y = torch.randint(0, 10, (batch,), generator=generator).to(device)

    # Same weights, same function: check before timing (eval mode, so dropout and batch statistics
    # cannot differ), then time in train mode.
    compiled.eval()
    twin.eval()
    with torch.no_grad():
        tolerance = {"rtol": 1e-4, "atol": 1e-5} if device.type == "cuda" else {}  # TF32 convolutions
        torch.testing.assert_close(compiled(x), twin(x), **tolerance)
    compiled.train()
    twin.train()

    # Warm up both (allocator, kernels, autotuning), then pick steps per sample from the slower.
    models = {"compiled": compiled, "twin": twin}
    for _ in range(args.warmup):
        for model in models.values():
            train_step(model, x, y)
    one_step = max(time_sample(model, x, y, 3, device) / 3 for model in models.values())
    steps = max(1, math.ceil(args.sample_ms / 1000 / one_step))

    times: dict[str, list[float]] = {"compiled": [], "twin": []}
    ratios = []
    gc.collect()
    gc.disable()  # as timeit does: a collection landing in one sample would be charged to one side
    try:
        for i in range(args.repeats):
            order = ("compiled", "twin") if i % 2 == 0 else ("twin", "compiled")
            pair = {name: time_sample(models[name], x, y, steps, device) for name in order}
            for name, seconds in pair.items():
                times[name].append(seconds / steps)
            ratios.append(pair["compiled"] / pair["twin"])
    finally:
        gc.enable()

    ratios.sort()
    low, high = median_confidence_interval(ratios)
    return Result(
        spec=Path(spec).stem,
        batch=batch,
        steps=steps,
        compiled_ms=1000 * statistics.median(times["compiled"]),
        twin_ms=1000 * statistics.median(times["twin"]),
        ratio=statistics.median(ratios),
        iqr_pct=100 * (quantile(ratios, 0.75) - quantile(ratios, 0.25)),
        ci_low=low,
        ci_high=high,
        compiled_peak_mib=peak_memory_mib(compiled, x, y, device),
        twin_peak_mib=peak_memory_mib(twin, x, y, device),
    )


def peak_memory_mib(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float | None:
    """Peak memory of one training step beyond what is allocated before it (weights, inputs), in MiB.

    On CUDA from the caching allocator's counters; on CPU from the profiler's memory timeline (a
    private torch API: None if it is missing or fails).
    """
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        F.cross_entropy(model(x), y).backward()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    try:
        from torch.profiler import ProfilerActivity, profile
        from torch.profiler._memory_profiler import MemoryProfileTimeline

        options = {"profile_memory": True, "record_shapes": True, "with_stack": True}  # the timeline needs all three
        with profile(activities=[ProfilerActivity.CPU], **options) as prof:
            F.cross_entropy(model(x), y).backward()
        _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(device)
        return max(sum(s) for s in sizes) / 2**20
    except Exception:  # noqa: BLE001 - a private API; the timing stands without it
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> str:
    cpu = f"{cpu_model()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads"
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (host: {cpu})"
    return cpu


def _peaks(r: Result) -> str:
    if r.compiled_peak_mib is None or r.twin_peak_mib is None:
        return "n/a"
    return f"{r.compiled_peak_mib:.1f} / {r.twin_peak_mib:.1f}"


def print_results(results: list[Result], args: argparse.Namespace, device: torch.device) -> None:
    header = (
        f"{machine(device)}\ntorch {torch.__version__}, Python {platform.python_version()}, "
        f"device {device}, {datetime.date.today().isoformat()}\n"
        f"{args.repeats} interleaved pairs per case after {args.warmup} warm-up steps; "
        f"samples of ≥ {args.sample_ms:g} ms; one step = forward + cross-entropy + backward, train mode"
    )
    columns = [
        "spec",
        "batch",
        "steps/sample",
        "compiled ms/step",
        "twin ms/step",
        "ratio (median)",
        "IQR of ratios",
        "95% CI of ratio",
        "target",
        "peak MiB compiled / twin",
    ]
    rows = [
        [
            r.spec,
            str(r.batch),
            str(r.steps),
            f"{r.compiled_ms:.3f}",
            f"{r.twin_ms:.3f}",
            f"{r.ratio:.3f}",
            f"{r.iqr_pct:.1f}%",
            f"{r.ci_low:.3f}–{r.ci_high:.3f}",
            r.verdict,
            _peaks(r),
        ]
        for r in results
    ]
    if args.markdown:
        print("\n".join(f"- {line}" for line in header.splitlines()))
        print()
        print("| " + " | ".join(columns) + " |")
        print("|" + "|".join("---" if c in ("spec", "target") else "---:" for c in columns) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    print(header)
    print()
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=100, help="interleaved (compiled, twin) pairs per case")
    parser.add_argument("--batch", type=int, default=64, help="batch for every spec")
    parser.add_argument("--heavy-batch", type=int, default=256, help="batch for the extra resnet_digits case (0: skip)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed training steps of each model first")
    parser.add_argument("--sample-ms", type=float, default=20.0, help="each timed sample runs at least this long")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads; default 1 on CPU (steadier when shared), torch's own on CUDA; 0: torch's own",
    )
    parser.add_argument("--specs", nargs="+", default=None, help=f"subset of {', '.join(TWINS)}")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table with the machine")
    args = parser.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    device = torch.device(args.device)
    # On a shared CPU machine several intra-op threads wait on each other whenever another process
    # takes a core, which makes steps many times slower at random; one thread times the same code
    # (the ratio compares identical kernels) far more steadily.
    threads = args.threads if args.threads is not None else (1 if device.type == "cpu" else 0)
    if threads:
        torch.set_num_threads(threads)
    cases = [(spec, args.batch) for spec in (args.specs or TWINS)]
    if args.heavy_batch and (args.specs is None or HEAVY_SPEC in args.specs):
        cases.append((HEAVY_SPEC, args.heavy_batch))

    results = []
    for spec, batch in cases:
        started = time.perf_counter()
        results.append(measure(spec, batch, args, device))
        r = results[-1]
        print(
            f"  {r.spec} batch {batch}: ratio {r.ratio:.3f} (IQR {r.iqr_pct:.1f}%), "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    print_results(results, args, device)


if __name__ == "__main__":
    main()
