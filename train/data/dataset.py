"""What every data set gives training: its task, three splits, class count or vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import TrainError
from .splits import GraphListSplit, NodeSplit, TensorSplit, partition

Split = TensorSplit | GraphListSplit | NodeSplit


@dataclass
class Dataset:
    name: str
    task: str  # one of config.TASKS other than auto
    train: Split
    val: Split
    test: Split
    classes: int | None = None  # classification tasks
    tokenizer: Any = None  # language models: encode/decode and vocab
    info: str = ""
    options: dict = field(default_factory=dict)

    @property
    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


def split_tensors(
    name: str,
    task: str,
    inputs: dict[str, torch.Tensor],
    target: torch.Tensor,
    seed: int,
    val: float,
    test: float,
    stratify: bool = False,
    **extra,
) -> Dataset:
    """A Dataset from whole tensors, split by example (stratified by target for classification)."""
    parts = partition(len(target), seed, val, test, target if stratify else None) if len(target) else []
    if not parts or any(len(part) == 0 for part in parts):
        raise TrainError(
            f"{name}: {len(target)} examples are too few to split into training, validation and test sets",
            "use more examples (a few per class at least)",
        )
    splits = [TensorSplit({k: v[i] for k, v in inputs.items()}, target[i]) for i in parts]
    return Dataset(name, task, *splits, **extra)
