"""Normalisation: layer, RMS, batch and group norm with PyTorch's module layouts."""

from __future__ import annotations

from torch import nn

from .registry import Arg, Construct, ShapeError, block
from .shape_rules import known_size, numel

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


@block(
    "layernorm",
    example=("[5, 8]", "layernorm"),
    family="normalisation",
    args=(_EPS,),
    params=lambda inputs, a: 2 * _features(inputs),
    flops=lambda inputs, out, a: 5 * numel(inputs[0]),
    module=lambda inputs, a: Construct(nn.LayerNorm, {"normalized_shape": _features(inputs), "eps": a.eps}),
    accepts=("float", "graph"),
)
def layernorm(inputs, a):
    """Layer normalisation over the last dimension with a learned scale and shift (Ba et al. 2016).

    Shapes: [..., d] -> [..., d].
    """
    _features(inputs)
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
