"""Shared timing for the benchmarks: the median of repeated runs after a warm-up, synchronised on a GPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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
