"""PyTorch Geometric convolution state dicts (`GCNConv`, `GATConv`, `GINConv`, `ChebConv`, alone or
inside a model, saved with safetensors) onto the spec's graph layers: the k-th convolution of the
checkpoint — its prefixes in natural order (`conv2` before `conv10`) — goes to the k-th graph block
of the spec, which must be of the same kind. Our layers keep PyG's parameter names (blocks/graph.py),
except GIN's MLP, `nn` there and `mlp` here; GIN's ε is a fixed number here (train_eps = False).
"""

from __future__ import annotations

import re

import torch

from ..errors import TrainError
from .structure import Link, Structure, same

NAME = "pyg"
MODEL_TYPES = ()
BASES = ("",)
BLOCKS = {"gcn": "GCNConv", "gat": "GATConv", "gin": "GINConv", "cheb": "ChebConv"}


def convolutions(names) -> list[tuple[str, str]]:
    """(prefix, block) of each convolution in a state dict, in natural order of the prefixes."""
    found = {}
    for name in names:
        if name.endswith("att_src"):
            found[name[: -len("att_src")]] = "gat"
        elif name.endswith("lins.0.weight"):
            found[name[: -len("lins.0.weight")]] = "cheb"
        elif name.endswith("nn.0.weight"):
            found[name[: -len("nn.0.weight")]] = "gin"
    for name in names:
        if name.endswith("lin.weight") and name[: -len("lin.weight")] not in found:
            found[name[: -len("lin.weight")]] = "gcn"

    def natural(prefix: str):
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", prefix)]

    return sorted(found.items(), key=lambda item: natural(item[0]))


def matches(names) -> bool:
    return bool(convolutions(names))


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    ours = [n for n in s.order if s.block(n) in BLOCKS]
    theirs = convolutions(names)
    if len(ours) > len(theirs):
        raise TrainError(
            f"the spec has {len(ours)} graph convolutions, the checkpoint {len(theirs)}: "
            f"{s.where(ours[len(theirs)])} has no weights to load",
            "give the spec as many graph layers as the checkpoint, or load them from a checkpoint that has them",
        )
    found = []
    for node, (prefix, block) in zip(ours, theirs):
        if s.block(node) != block:
            raise TrainError(
                f"{s.where(node)} is a {s.block(node)} layer but the checkpoint's convolution "
                f"'{prefix.rstrip('.') or '(top)'}' is a {BLOCKS[block]}",
                "the spec's graph layers map onto the checkpoint's convolutions in order",
            )
        for name in sorted(n for n in names if n.startswith(prefix)):
            rest = name[len(prefix) :]
            if block == "gin" and rest == "eps":
                eps = float(s.attrs(node).args.eps)
                found.append(Link(node, (), (name,), lambda ts: [], lambda ts, e=eps: [torch.tensor([e])]))
                continue
            if block == "gin" and rest.startswith("nn."):
                rest = "mlp." + rest[len("nn.") :]
            found.append(same(node, s.key(node, rest), name))
    return found
