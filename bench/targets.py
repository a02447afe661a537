"""The timed targets of the design, measured (the tests check what is reached, never how fast):

- reference specs (Llama-2-7B, Mixtral-8x7B, ResNets, Mamba-130M) check and summarise at batch 8
  without allocating a weight: seconds per spec;
- `specs/digits_cnn.cram` trains to 97% test accuracy on digits "within a minute" (8 epochs, one
  thread): seconds and the accuracy reached.

    python bench/targets.py                 # both, ~1 min on 2 cores
    python bench/targets.py --skip-train    # the summaries only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cramnet.compiler import check_spec  # noqa: E402


def time_summaries(runs: int) -> list[tuple[str, int, float]]:
    """(spec, parameters, median seconds of check + summary at batch 8) per reference spec."""
    rows = []
    for spec in sorted((ROOT / "specs" / "reference").glob("*.cram")):
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            summary = check_spec(spec).summary(batch=8)
            samples.append(time.perf_counter() - start)
        rows.append((spec.name, summary.params, statistics.median(samples)))
    return rows


def time_digits_cnn(epochs: int) -> tuple[float, float]:
    """(seconds, test accuracy) of training digits_cnn as the test trains it (one thread)."""
    from cramnet.train import apply_sets, defaults, train

    with tempfile.TemporaryDirectory() as out:
        sets = [f"out={out}/run", "threads=1", f"epochs={epochs}"]
        start = time.perf_counter()
        result = train(ROOT / "specs" / "digits_cnn.cram", apply_sets(defaults(), sets))
        return time.perf_counter() - start, result.final["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per reference spec (the median is reported)")
    parser.add_argument("--epochs", type=int, default=8, help="digits_cnn epochs (the test trains 8)")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()

    print("| reference spec | parameters | check + summary, batch 8 (s) |")
    print("| --- | ---: | ---: |")
    rows = time_summaries(args.runs)
    for name, params, seconds in rows:
        print(f"| {name} | {params:,} | {seconds:.2f} |")
    print(f"| all ({len(rows)}) | | {sum(seconds for *_, seconds in rows):.2f} |")
    if not args.skip_train:
        seconds, accuracy = time_digits_cnn(args.epochs)
        print()
        print("| training | epochs | seconds | test accuracy |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| digits_cnn (1 thread) | {args.epochs} | {seconds:.1f} | {accuracy:.3f} |")


if __name__ == "__main__":
    main()
