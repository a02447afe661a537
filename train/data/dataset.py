"""What every data set gives training: its task, three splits, class count or vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..errors import TrainError
from .splits import GraphListSplit, NodeSplit, TensorSplit, partition

Split = TensorSplit | GraphListSplit | NodeSplit


@dataclass
class Dataset:
    name: str
    task: str  # one of config_schema.TASKS other than auto
    train: Split
    val: Split
    test: Split
    classes: int | None = None  # classification tasks
    tokenizer: Any = None  # language models: encode/decode and vocab
    alphabet: str | None = None  # sequences read as letters of cramnet's alphabets: protein, dna or rna
    info: str = ""
    options: dict = field(default_factory=dict)
    labels: list[str] | None = None  # names of the classes (or event codes), where the data has them
    ids: dict[str, list[str]] | None = None  # record IDs per split, where the data has them
    warnings: list[str] = field(default_factory=list)  # what looks wrong but may be meant, told before training

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
    example_labels: torch.Tensor | None = None,
    **extra,
) -> Dataset:
    """A Dataset from whole tensors, split by example (stratified by target for classification);
    `example_labels`, classes beside another target, go with each split for probes to colour by
    (`labels` in `extra` are the names of the classes)."""
    parts = partition(len(target), seed, val, test, target if stratify else None) if len(target) else []
    if not parts or any(len(part) == 0 for part in parts):
        raise TrainError(
            f"{name}: {len(target)} examples are too few to split into training, validation and test sets",
            "use more examples (a few per class at least)",
        )
    splits = [
        TensorSplit(
            {k: v[i] for k, v in inputs.items()}, target[i], None if example_labels is None else example_labels[i]
        )
        for i in parts
    ]
    return Dataset(name, task, *splits, **extra)


def numbered_as(data: Dataset, labels: list[str]) -> Dataset:
    """`data` with its classes numbered as a trained run's `labels` number them (other data evaluated
    by the run: its own numbering counts only the classes it holds); a label the run does not know is
    refused."""
    unknown = [label for label in data.labels if label not in labels]
    if unknown:
        known = ", ".join(labels[:10]) + (", …" if len(labels) > 10 else "")
        raise TrainError(
            f"{data.name}: label '{unknown[0]}' is not one of the {len(labels)} classes the run was trained on "
            f"({known})",
            "evaluate on examples of the run's classes",
        )
    index = torch.tensor([labels.index(label) for label in data.labels])
    splits = {name: replace(split, target=index[split.target]) for name, split in data.splits.items()}
    return replace(data, **splits, classes=len(labels), labels=list(labels))
