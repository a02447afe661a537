"""Synthetic sequence tasks from the papers, seeded and sized by options.

- adding (Hochreiter & Schmidhuber 1997): `[seq, 2]` steps (a value in [0, 1], a marker); the target is
  the sum of the two marked values.
- selective copying (Gu & Dao 2023, §3.1): data tokens scattered among blanks, then one marker per
  token; at the markers the model outputs the data tokens in order. Needs content-aware (selective)
  state: a time-invariant model cannot know where the tokens are.
- induction heads (Olsson et al. 2022; Gu & Dao §3.1): random tokens with a special token somewhere;
  the sequence ends with the special token again and the model must recall the token that followed it.

Targets are -100 (ignored) except where the model must answer.
"""

from __future__ import annotations

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import Dataset, split_tensors

IGNORE = -100
ADDING_OPTIONS = {"count": 4000, "length": 50}
COPY_OPTIONS = {"count": 4000, "length": 32, "tokens": 4, "vocab": 8}
INDUCTION_OPTIONS = {"count": 4000, "length": 32, "vocab": 8}


def _need_tokens(name: str, kind: TensorType, data: str) -> None:
    if kind.kind != "tokens":
        raise TrainError(
            f"data '{data}' is token sequences; input '{name}' is {kind.kind}{list(kind.dims)}",
            f"declare `input {name}: tokens[seq]`",
        )


def adding(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str) -> Dataset:
    if kind.kind != "float" or len(kind.dims) != 2 or kind.dims[-1] != 2:
        raise TrainError(
            f"data 'adding' is [seq, 2] (value, marker) per step; input '{name}' is {list(kind.dims)}",
            f"declare `input {name}: [seq, 2]`",
        )
    g = torch.Generator().manual_seed(seed)
    count, length = options["count"], options["length"]
    values = torch.rand(count, length, generator=g)
    first = torch.randint(0, length // 2, (count,), generator=g)
    second = torch.randint(length // 2, length, (count,), generator=g)
    marks = torch.zeros(count, length)
    marks[torch.arange(count), first] = 1.0
    marks[torch.arange(count), second] = 1.0
    x = torch.stack([values, marks], dim=-1)
    y = (values * marks).sum(dim=1, keepdim=True)
    return split_tensors(
        "adding",
        "regression",
        {name: x},
        y,
        seed,
        val,
        test,
        info=f"adding problem: {count} sequences of {length} steps",
    )


def selective_copy(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str):
    _need_tokens(name, kind, "selective_copy")
    count, length, tokens, vocab = options["count"], options["length"], options["tokens"], options["vocab"]
    if vocab < 3 or tokens >= length:
        raise TrainError("data.options: selective_copy needs vocab >= 3 and tokens < length")
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(2, vocab, (count, tokens), generator=g)  # 0 blank, 1 marker
    places = torch.rand(count, length, generator=g).argsort(dim=1)[:, :tokens].sort(dim=1).values
    x = torch.zeros(count, length + tokens, dtype=torch.long)
    x.scatter_(1, places, data)
    x[:, length:] = 1
    y = torch.full_like(x, IGNORE)
    y[:, length:] = data
    return split_tensors(
        "selective_copy",
        "token_classification",
        {name: x},
        y,
        seed,
        val,
        test,
        classes=vocab,
        info=f"selective copying: {tokens} tokens among {length} positions, vocabulary {vocab}",
    )


def induction(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str):
    _need_tokens(name, kind, "induction")
    count, length, vocab = options["count"], options["length"], options["vocab"]
    if vocab < 3 or length < 4:
        raise TrainError("data.options: induction needs vocab >= 3 and length >= 4")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(2, vocab, (count, length), generator=g)  # 1 is the special token
    where = torch.randint(0, length - 3, (count,), generator=g)
    rows = torch.arange(count)
    x[rows, where] = 1
    x[:, -1] = 1
    y = torch.full_like(x, IGNORE)
    y[:, -1] = x[rows, where + 1]
    return split_tensors(
        "induction",
        "token_classification",
        {name: x},
        y,
        seed,
        val,
        test,
        classes=vocab,
        info=f"induction heads: {count} sequences of {length} tokens, vocabulary {vocab}",
    )
