"""Normalisation: layer, RMS, batch and group norm with PyTorch's module layouts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import axis, known_size, numel, per_position

NORMALISATION = Family(
    "normalisation",
    "#fdd49e",
    "Layer, RMS, batch and group normalisation.",
    paper="Ba et al. 2016; Ioffe & Szegedy 2015",
)

_EPS = Arg("eps", "float", 1e-5, "added to the variance for stability", low=0.0)


def _features(inputs) -> int:
    if inputs[0].rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    return known_size(inputs[0].dims[-1], "the normalised (last) dimension")


def _channels(inputs) -> int:
    if inputs[0].rank == 0:
        raise ShapeError("expects [C, ...] with channels first, got a scalar")
    if inputs[0].kind == "graph":  # node features (N, F): the features are the channels, as PyG's BatchNorm
        return known_size(inputs[0].dims[-1], "the node features (last dimension)")
    return known_size(inputs[0].dims[0], "the channel (first) dimension")


class AxisLayerNorm(nn.Module):
    """Layer normalisation over one axis that is not the last (LayerNorm2d over the channels of an
    image, as in ConvNeXt; Liu et al. 2022): moved last, normalised as nn.LayerNorm does, moved back."""

    def __init__(self, features: int, dim: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        self.dim, self.eps = dim, eps  # the axis of the batched tensor
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features)) if bias else None

    def forward(self, x):
        y = F.layer_norm(x.movedim(self.dim, -1), self.weight.shape, self.weight, self.bias, self.eps)
        return y.movedim(-1, self.dim)


def _norm_axis(inputs, a) -> int:
    """The normalised axis as a per-example index; graph values only along their features."""
    x = inputs[0]
    if x.rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    k = axis(a.dim, x.rank)
    if x.kind != "float" and k != x.rank - 1:
        raise ShapeError(f"graph values are normalised along their features (the last axis), not dim {a.dim}")
    return k


def _norm_features(inputs, a) -> int:
    k = _norm_axis(inputs, a)
    which = "the normalised (last) dimension" if k == inputs[0].rank - 1 else f"the normalised dimension {a.dim}"
    return known_size(inputs[0].dims[k], which)


def _layernorm_module(inputs, a) -> Construct:
    features, k = _norm_features(inputs, a), _norm_axis(inputs, a)
    if k == inputs[0].rank - 1:
        return Construct(nn.LayerNorm, {"normalized_shape": features, "eps": a.eps, "bias": a.bias})
    return Construct(AxisLayerNorm, {"features": features, "dim": k + 1, "eps": a.eps, "bias": a.bias})


@block(
    "layernorm",
    example=("[4, 3, 5]", "layernorm(dim = 0, bias = false)"),
    family="normalisation",
    args=(
        _EPS,
        Arg(
            "dim", "int", -1, "the one axis normalised over (negative from the end); dim = 0 on an image is LayerNorm2d"
        ),
        Arg("bias", "bool", True, "a learned shift besides the learned scale"),
    ),
    params=lambda inputs, a: (2 if a.bias else 1) * _norm_features(inputs, a),
    flops=lambda inputs, out, a: 5 * numel(inputs[0]),
    module=_layernorm_module,
    accepts=("float", "graph"),
    decodes=per_position,
)
def layernorm(inputs, a):
    """Layer normalisation (Ba et al. 2016): each position is normalised over one axis — the last by
    default — to zero mean and unit variance, then scaled and shifted per entry of that axis. On an
    image [C, H, W] the default normalises over the width W, which is rarely meant: write
    `layernorm(dim = 0)` to normalise over the channels of each pixel (LayerNorm2d, as in ConvNeXt).

    Shapes: [..., d] -> [..., d]; [C, H, W] -> [C, H, W] (dim = 0, C weights).
    """
    _norm_features(inputs, a)
    return inputs[0]


@block(
    "rmsnorm",
    example=("[5, 8]", "rmsnorm"),
    family="normalisation",
    args=(Arg("eps", "float", 1e-6, "added to the mean square for stability", low=0.0),),
    params=lambda inputs, a: _features(inputs),
    flops=lambda inputs, out, a: 4 * numel(inputs[0]),
    module=lambda inputs, a: Construct(nn.RMSNorm, {"normalized_shape": _features(inputs), "eps": a.eps}),
    accepts=("float", "graph"),
    decodes=per_position,
)
def rmsnorm(inputs, a):
    """Root-mean-square normalisation over the last dimension, learned scale only (Zhang & Sennrich 2019).

    Shapes: [..., d] -> [..., d].
    """
    _features(inputs)
    return inputs[0]


_BATCHNORM_BY_RANK = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}


@block(
    "batchnorm",
    example=("[4, 6, 6]", "batchnorm"),
    family="normalisation",
    args=(_EPS, Arg("momentum", "float", 0.1, "weight of the newest batch in the running statistics", low=0.0)),
    params=lambda inputs, a: 2 * _channels(inputs),
    flops=lambda inputs, out, a: 4 * numel(inputs[0]),
    module=lambda inputs, a: Construct(
        _BATCHNORM_BY_RANK[inputs[0].rank], {"num_features": _channels(inputs), "eps": a.eps, "momentum": a.momentum}
    ),
    accepts=("float", "graph"),
)
def batchnorm(inputs, a):
    """Batch normalisation over the channel (first) dimension (Ioffe & Szegedy 2015): BatchNorm1d for
    [C] and [C, L], BatchNorm2d for [C, H, W], BatchNorm3d for [C, D, H, W]. On graph node
    features graph[nodes, F] it normalises each feature over all nodes of the batch (BatchNorm1d(F)).

    Shapes: [C, ...] -> same.
    """
    if inputs[0].rank not in _BATCHNORM_BY_RANK:
        raise ShapeError(f"expects [C], [C, L], [C, H, W] or [C, D, H, W], got {inputs[0]}")
    _channels(inputs)
    return inputs[0]


@block(
    "groupnorm",
    example=("[4, 6, 6]", "groupnorm(2)"),
    family="normalisation",
    args=(Arg("groups", "int", doc="number of channel groups; must divide the channels", low=1), _EPS),
    params=lambda inputs, a: 2 * _channels(inputs),
    flops=lambda inputs, out, a: 5 * numel(inputs[0]),
    module=lambda inputs, a: Construct(
        nn.GroupNorm, {"num_groups": a.groups, "num_channels": _channels(inputs), "eps": a.eps}
    ),
)
def groupnorm(inputs, a):
    """Group normalisation: channels split into groups, each normalised (Wu & He 2018).

    Shapes: [C, ...] -> same.
    """
    channels = _channels(inputs)
    if channels % a.groups:
        raise ShapeError(f"groups = {a.groups} must divide the {channels} channels")
    return inputs[0]


class LayerScale(nn.Module):
    """A learned scale per entry of one axis, y = x · diag(γ), γ initialised small (CaiT, Touvron et al. 2021)."""

    def __init__(self, features: int, trailing: int = 0, init: float = 1e-6):
        super().__init__()
        self.trailing = trailing  # axes after the scaled one, so γ broadcasts from the right
        self.gamma = nn.Parameter(torch.full((features,), init))

    def forward(self, x):
        return x * self.gamma.view(-1, *([1] * self.trailing))


@block(
    "layer_scale",
    example=("[4, 3, 5]", "layer_scale(dim = 0, init = 0.1)"),
    family="normalisation",
    args=(
        Arg("dim", "int", -1, "the axis whose entries each get a scale (negative from the end)"),
        Arg("init", "float", 1e-6, "the scales' initial value"),
    ),
    params=lambda inputs, a: _norm_features(inputs, a),
    flops=lambda inputs, out, a: numel(inputs[0]),
    module=lambda inputs, a: Construct(
        LayerScale,
        {
            "features": _norm_features(inputs, a),
            "trailing": inputs[0].rank - 1 - _norm_axis(inputs, a),
            "init": a.init,
        },
    ),
    accepts=("float", "graph"),
    decodes=per_position,
)
def layer_scale(inputs, a):
    """Multiplies each entry of one axis by its own learned scale, initialised to `init` (LayerScale of
    CaiT, Touvron et al. 2021; ConvNeXt's γ, Liu et al. 2022, on the channels: `layer_scale(dim = 0)`).

    Shapes: [..., d] -> [..., d]; [C, H, W] -> [C, H, W] (dim = 0, C scales).
    """
    _norm_features(inputs, a)
    return inputs[0]
