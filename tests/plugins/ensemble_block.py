"""A user's own block that takes bodies, declared outside cramnet as a plugin would: the mean of its
members' outputs (`ensemble { a | b | c }`), each member a body written in the spec."""

import torch
from torch import nn

from cramnet.blocks import Construct, ShapeError, SourceText, block
from cramnet.blocks.registry import BodySlot


class Ensemble(nn.Module):
    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        return torch.stack([member(x) for member in self.members]).mean(0)


def _members(inputs, a):
    results = a.bodies.infer(inputs[0])  # each member reads the whole input
    if len({r.type for r in results}) != 1:
        raise ShapeError("the members' outputs differ", "every member must produce the same shape")
    return results


@block(
    "test_ensemble",
    family="plugins",
    args=(),
    params=lambda inputs, a: sum(r.params for r in _members(inputs, a)),
    flops=lambda inputs, out, a: sum((r.flops for r in _members(inputs, a)), 0),
    module=lambda inputs, a: Construct(
        Ensemble, {"members": SourceText("[" + ", ".join(f"{c}()" for c in a.bodies.classes or []) + "]")}
    ),
    bodies=BodySlot(
        noun="member",
        arrange=lambda a, written: list(range(written)),
        describe=lambda inputs, a: f"ensemble of {len(a.bodies.copies)}",
        entry=lambda inputs, a: "ensemble",
        exit=lambda inputs, a: "mean",
    ),
    example=("[8]", "test_ensemble() { dense(4) | dense(4) -> relu }"),
)
def test_ensemble(inputs, a):
    """The mean of its members' outputs.

    Shapes: [...] -> the members' output.
    """
    return _members(inputs, a)[0].type
