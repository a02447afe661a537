"""Record IDs (FASTA headers, cell barcodes, person IDs) follow their examples into the splits, so
that a prediction can be written beside the record it is for."""

from __future__ import annotations

import torch

from .splits import partition


def ids_by_split(
    ids: list[str], seed: int, val: float, test: float, labels: torch.Tensor | None = None
) -> dict[str, list[str]]:
    """The IDs of each split, partitioned exactly as `split_tensors` partitions the examples."""
    parts = partition(len(ids), seed, val, test, labels)
    return {name: [ids[i] for i in part.tolist()] for name, part in zip(("train", "val", "test"), parts)}


def class_ids(names: list[str]) -> tuple[list[str], dict[str, int]]:
    """Class names in a natural order (numbers by value, then text) and each one's id."""
    ordered = sorted(set(names), key=lambda n: (0, float(n), n) if is_number(n) else (1, 0.0, n))
    return ordered, {name: i for i, name in enumerate(ordered)}


def is_number(text: str) -> bool:
    """Whether a text cell reads as a number (float() accepts it)."""
    try:
        float(text)
        return True
    except ValueError:
        return False
