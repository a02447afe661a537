"""A user's own block, declared outside cramnet, as a plugin package would: y = x · w (one learned
scale per feature)."""

import torch
from torch import nn

from cramnet.blocks import Arg, Construct, ShapeError, block

LIMIT = 1e4  # module-level helpers and constants, as plugin files have them: export must carry them


def _bounded(weight):
    return weight.clamp(-LIMIT, LIMIT)


class Scale(nn.Module):
    def __init__(self, features: int, init: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((features,), init))

    def forward(self, x):
        return x * _bounded(self.weight)


def _features(inputs):
    size = inputs[0].dims[-1]
    if not isinstance(size, int):
        raise ShapeError(f"the last dimension must be a known size, got {size}")
    return size


@block(
    "test_scale",
    family="plugins",
    args=(Arg("init", "float", 1.0, "initial scale"),),
    params=lambda inputs, a: _features(inputs),
    flops=lambda inputs, out, a: _features(inputs),
    module=lambda inputs, a: Construct(Scale, {"features": _features(inputs), "init": a.init}),
    example=("[5, 8]", "test_scale(0.5)"),
)
def test_scale(inputs, a):
    """Multiplies each feature by its own learned scale.

    Shapes: [..., d] -> [..., d].
    """
    _features(inputs)
    return inputs[0]
