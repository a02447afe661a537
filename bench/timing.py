"""Shared timing for the benchmarks: the median of repeated runs after a warm-up, synchronised on a GPU;
quantiles; and the interleaved pairs of a side-by-side row (`Bench`, `Row`), checked equal first (`same`)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


def median_ms(step: Callable[[], object], device: str, repeats: int) -> float:
    """Median wall time of `step` in milliseconds over `repeats` runs; the first run is a warm-up
    (it pays for kernel compilation and allocator growth) and is not counted."""
    samples = []
    for _ in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[1:]) * 1000


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of already-sorted values."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass
class Row:
    name: str
    anchor: str
    goal: float  # cramnet/anchor ratio to reach (≤)
    ours_ms: float = math.nan
    anchor_ms: float = math.nan
    ratio: float = math.nan  # median of per-pair ratios
    iqr: float = math.nan  # interquartile range of the per-pair ratios
    note: str = ""

    @property
    def verdict(self) -> str:
        if math.isnan(self.ratio):
            return "not run"
        if self.ratio <= self.goal:
            return "met"
        return f"missed by {100 * (self.ratio / self.goal - 1):.1f}%"


class Bench:
    """Timing in interleaved pairs, on a GPU with CUDA events (a sample's start waits for the device)."""

    def __init__(self, device: torch.device, warmup: int, repeats: int, sample_ms: float):
        self.device, self.warmup, self.repeats, self.sample_ms = device, warmup, repeats, sample_ms

    def sample(self, step: Callable[[], object], steps: int) -> float:
        """Milliseconds per step over `steps` steps."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(steps):
                step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / steps
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return 1000 * (time.perf_counter() - started) / steps

    def compare(self, row: Row, ours: Callable[[], object], anchor: Callable[[], object]) -> Row:
        for _ in range(self.warmup):
            ours()
            anchor()
        slowest = max(self.sample(ours, 1), self.sample(anchor, 1))
        steps = max(1, math.ceil(self.sample_ms / max(slowest, 1e-3)))
        times, ratios = {"ours": [], "anchor": []}, []
        for i in range(self.repeats):
            order = ("ours", "anchor") if i % 2 == 0 else ("anchor", "ours")
            pair = {name: self.sample(ours if name == "ours" else anchor, steps) for name in order}
            for name, ms in pair.items():
                times[name].append(ms)
            ratios.append(pair["ours"] / pair["anchor"])
        ratios.sort()
        row.ours_ms, row.anchor_ms = statistics.median(times["ours"]), statistics.median(times["anchor"])
        row.ratio, row.iqr = statistics.median(ratios), quantile(ratios, 0.75) - quantile(ratios, 0.25)
        return row


def same(ours: torch.Tensor, anchor: torch.Tensor, what: str, tolerance: float = 1e-4) -> None:
    """Stop before timing two modules that do not compute the same thing."""
    scale = anchor.detach().float().abs().max().clamp(min=1.0)
    difference = float((ours.detach().float() - anchor.detach().float()).abs().max() / scale)
    if not difference <= tolerance:
        raise AssertionError(f"{what}: cramnet and its anchor differ by {difference:.2e} (relative)")
