"""Pairs of 8×8 digits (scikit-learn's) labelled same (1) or different (0), for Siamese models:
two inputs, one label, half the pairs of each kind. The digits are split into train, validation and
test images first and pairs are drawn within each part, so no image is seen in two splits."""

from __future__ import annotations

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .builtin import _fit_features
from .dataset import Dataset
from .splits import TensorSplit, partition

PAIRS_OPTIONS = {"count": 4000}


def draw_pairs(labels: torch.Tensor, count: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """`count` index pairs (first, second) into `labels` (classes 0 … C-1, each present), alternately
    the same class and another one (each other class as likely), and whether each pair is the same."""
    classes = int(labels.max()) + 1
    same = torch.arange(count) % 2 == 0
    first = torch.randint(len(labels), (count,), generator=generator)
    own = labels[first]
    other = (own + torch.randint(1, classes, (count,), generator=generator)) % classes
    wanted = torch.where(same, own, other)
    members = torch.bincount(labels, minlength=classes)  # (C,)
    starts = members.cumsum(0) - members
    by_class = labels.argsort(stable=True)  # image indices, grouped by class
    pick = (torch.rand(count, generator=generator) * members[wanted]).long()
    return first, by_class[starts[wanted] + pick], same.long()


def digit_pairs(types: dict[str, TensorType], seed: int, val: float, test: float, options: dict) -> Dataset:
    if len(types) != 2:
        raise TrainError(
            f"data 'digit_pairs' feeds two inputs (the two digits of a pair); the model has {len(types)}: "
            f"{', '.join(types)}",
            "declare two inputs, e.g. `input left: [1, 8, 8]` and `input right: [1, 8, 8]`",
        )
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.tensor(raw.data, dtype=torch.float32) / 16.0  # pixels in [0, 1]
    y = torch.tensor(raw.target, dtype=torch.long)
    (left, left_kind), (right, right_kind) = types.items()
    images = {left: _fit_features(x, left, left_kind, "digit_pairs")}
    images[right] = _fit_features(x, right, right_kind, "digit_pairs")
    generator = torch.Generator().manual_seed(seed)
    splits = []
    for part in partition(len(y), seed, val, test, y):
        share = len(part) / len(y)
        a, b, same = draw_pairs(y[part], max(2, round(options["count"] * share)), generator)
        splits.append(TensorSplit({left: images[left][part[a]], right: images[right][part[b]]}, same))
    return Dataset(
        "digit_pairs",
        "classification",
        *splits,
        classes=2,
        info=f"{options['count']} pairs of 8x8 digits, half the same digit (1), half different (0)",
    )
