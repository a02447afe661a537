"""`group`: a long feature vector cut into groups, each group embedded as one token (AttOmics,
Bourgeais et al. 2023): omics values become a sequence a transformer can read.

Groups are contiguous slices by default, or read from a file of feature indices — one group per
line, 0-based indices separated by spaces or commas, an optional `name:` label first, `#`
comments — so groups can follow pathways or clusters. Each group has its own projection
(|group| · dim weights and dim biases), all computed in one gather and one batched product.
"""

from __future__ import annotations

import math
import re
import stat
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from .registry import Arg, Construct, ShapeError, block
from .shape_rules import known_size


class GroupEmbedding(nn.Module):
    """One linear projection per group of features: token t = x[group t] · W_t + b_t."""

    def __init__(self, features, tokens, dim, groups=None):
        super().__init__()
        if groups is None:  # contiguous, sizes as equal as possible (the first ones one longer)
            base, extra = divmod(features, tokens)
            bounds = [0]
            for t in range(tokens):
                bounds.append(bounds[-1] + base + (1 if t < extra else 0))
            groups = [list(range(bounds[t], bounds[t + 1])) for t in range(tokens)]
        longest = max(len(g) for g in groups)
        total = sum(len(g) for g in groups)
        feature_index = torch.full((tokens, longest), features)  # padding points at an appended zero feature
        weight_index = torch.full((tokens, longest), total)  # ... and at an appended zero weight row
        start = 0
        for t, group in enumerate(groups):
            feature_index[t, : len(group)] = torch.tensor(group)
            weight_index[t, : len(group)] = torch.arange(start, start + len(group))
            start += len(group)
        self.register_buffer("feature_index", feature_index, persistent=False)
        self.register_buffer("weight_index", weight_index, persistent=False)
        self.weight = nn.Parameter(torch.empty(total, dim))  # the groups' weights, stacked
        self.bias = nn.Parameter(torch.empty(tokens, dim))
        row = 0
        for t, group in enumerate(groups):  # nn.Linear's initialisation, per group
            bound = 1 / math.sqrt(len(group))
            nn.init.uniform_(self.weight[row : row + len(group)], -bound, bound)
            nn.init.uniform_(self.bias[t], -bound, bound)
            row += len(group)

    def forward(self, x):
        gathered = nn.functional.pad(x, (0, 1))[:, self.feature_index]  # (B, tokens, longest)
        weights = nn.functional.pad(self.weight, (0, 0, 0, 1))[self.weight_index]  # (tokens, longest, dim)
        return torch.einsum("btg,tgd->btd", gathered, weights) + self.bias  # (B, tokens, dim)


MAX_GROUPS_BYTES = 1 << 20  # a groups file lists feature indices; /dev/zero must not be read forever


@lru_cache(maxsize=32)
def _read_groups(path: str, modified: float) -> tuple[tuple[int, ...], ...]:
    groups = []
    with open(path, "rb") as handle:
        data = handle.read(MAX_GROUPS_BYTES + 1)
    if len(data) > MAX_GROUPS_BYTES or b"\x00" in data:
        raise ShapeError(f"groups file {path} is not a list of feature indices (binary, or over 1 MiB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ShapeError(f"groups file {path} is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" in line:
            line = line.split(":", 1)[1]
        group = []
        for position, item in enumerate(filter(None, re.split(r"[\s,]+", line.strip())), start=1):
            if not (item.isascii() and item.isdigit()):
                # the item itself is not shown: a spec may name any file, and its text must not be printed
                raise ShapeError(
                    f"groups file {path}, line {number}: item {position} is not a feature index",
                    "write 0-based feature indices separated by spaces or commas",
                )
            group.append(int(item))
        if not group:
            raise ShapeError(f"groups file {path}, line {number}: the group is empty")
        groups.append(tuple(group))
    return tuple(groups)


def _groups(inputs, a) -> tuple[int, list[list[int]] | None]:
    x = inputs[0]
    if x.rank != 1:
        raise ShapeError(f"expects a feature vector [F], got {x}", "flatten the input first")
    features = known_size(x.dims[0], "the number of features")
    if a.groups is None:
        if a.tokens > features:
            raise ShapeError(f"cannot cut {features} features into {a.tokens} groups")
        return features, None
    try:
        status = Path(a.groups).stat()
        if not stat.S_ISREG(status.st_mode):  # a pipe would be waited on, a device read from
            raise ShapeError(f"the groups file {a.groups} is not a regular file (a pipe, socket or device)")
        groups = _read_groups(a.groups, status.st_mtime)
    except OSError as error:
        raise ShapeError(f"cannot read the groups file {a.groups}: {error.strerror or error}") from None
    if len(groups) != a.tokens:
        raise ShapeError(
            f"the groups file {a.groups} has {len(groups)} groups but tokens = {a.tokens}",
            f"write group({len(groups)}, {a.dim}, groups = …)",
        )
    for number, group in enumerate(groups, start=1):
        outside = [i for i in group if i >= features]
        if outside:
            raise ShapeError(
                f"groups file {a.groups}, group {number}: feature {outside[0]} is out of range for {features} features"
            )
    return features, [list(g) for g in groups]


def _params(inputs, a) -> int:
    features, groups = _groups(inputs, a)
    total = features if groups is None else sum(len(g) for g in groups)
    return total * a.dim + a.tokens * a.dim


@block(
    "group",
    family="tokens",
    args=(
        Arg("tokens", "int", doc="number of groups, each becoming one token", low=1),
        Arg("dim", "int", doc="embedding size of each token", low=1),
        Arg("groups", "path", None, "a file of feature indices, one group per line (default: contiguous groups)"),
    ),
    params=_params,
    flops=lambda inputs, out, a: 2 * _params(inputs, a),
    module=lambda inputs, a: Construct(
        GroupEmbedding,
        {"features": _groups(inputs, a)[0], "tokens": a.tokens, "dim": a.dim, "groups": _groups(inputs, a)[1]},
    ),
    example=("[30]", "group(4, 8)"),
)
def group(inputs, a):
    """Cuts a feature vector into `tokens` groups — contiguous, or as listed in a groups file — and
    embeds each group as one token with its own projection (AttOmics; Bourgeais et al. 2023).

    Shapes: [F] -> [tokens, dim].
    """
    _groups(inputs, a)
    return inputs[0].with_dims([a.tokens, a.dim])
