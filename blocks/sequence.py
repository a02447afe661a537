"""Sequence blocks around attention: positions, a class token, pooling, and image patches as tokens."""

from __future__ import annotations

import math

import torch
from torch import nn

from .dims import is_known
from .graph_heads import GraphPool
from .registry import Arg, Construct, ShapeError, block
from .shape_rules import known_size
from .tensor_type import TensorType


def _sequence(inputs) -> int:
    x = inputs[0]
    if x.rank != 2:
        raise ShapeError(f"expects a sequence [seq, d], got {x}")
    return known_size(x.dims[1], "the width (last dimension)")


class LearnedPositions(nn.Module):
    """A learned [max_len, d] table added to the first positions (GPT-2's wpe, ViT's pos_embedding);
    with a `Decoding` attached (blocks/decoding.py), to the positions after those already seen."""

    decoding = None

    def __init__(self, max_len, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim) * 0.02)

    def forward(self, x):
        start = self.decoding.position if self.decoding is not None else 0
        return x + self.weight[start : start + x.shape[1]]


class SinusoidalPositions(nn.Module):
    """Fixed sine and cosine positions (Vaswani et al. 2017): PE[p, 2i] = sin(p / 10000^(2i/d)),
    PE[p, 2i+1] = cos(p / 10000^(2i/d)), added; no parameters. With a `Decoding` attached, p counts on
    from the positions already seen."""

    decoding = None

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        start = self.decoding.position if self.decoding is not None else 0
        positions = torch.arange(start, start + x.shape[1], device=x.device, dtype=torch.float32)[:, None]
        rates = torch.exp(
            torch.arange(0, self.dim, 2, device=x.device, dtype=torch.float32) * (-math.log(10000.0) / self.dim)
        )
        table = torch.zeros(x.shape[1], self.dim, device=x.device)
        table[:, 0::2] = torch.sin(positions * rates)
        table[:, 1::2] = torch.cos(positions * rates)[:, : self.dim // 2]
        return x + table.to(x.dtype)


def _pos_embed_check(inputs, a) -> int:
    d = _sequence(inputs)
    seq = inputs[0].dims[0]
    if a.kind == "learned":
        if a.max_len is None:
            raise ShapeError(
                "a learned table needs its length: pos_embed(max_len)",
                "write pos_embed(1024), or pos_embed(kind = sinusoidal) for fixed positions",
            )
        if is_known(seq) and seq > a.max_len:
            raise ShapeError(
                f"the sequence has {seq} positions but the table only {a.max_len}", f"use pos_embed({seq}) or more"
            )
    return d


@block(
    "pos_embed",
    family="tokens",
    args=(
        Arg("max_len", "int", None, "length of the learned table (sequences may be shorter)", low=1),
        Arg(
            "kind",
            "enum",
            "learned",
            "`learned` table or fixed `sinusoidal` positions",
            choices=("learned", "sinusoidal"),
        ),
    ),
    params=lambda inputs, a: a.max_len * _pos_embed_check(inputs, a) if a.kind == "learned" else 0,
    flops=lambda inputs, out, a: inputs[0].dims[0] * inputs[0].dims[1],
    module=lambda inputs, a: (
        Construct(LearnedPositions, {"max_len": a.max_len, "dim": _pos_embed_check(inputs, a)})
        if a.kind == "learned"
        else Construct(SinusoidalPositions, {"dim": _pos_embed_check(inputs, a)})
    ),
    positions="keep",
    decodes=True,
    example=("[6, 8]", "pos_embed(16)"),
)
def pos_embed(inputs, a):
    """Adds a position embedding to each position: a learned [max_len, d] table, or fixed
    sinusoids (Vaswani et al. 2017).

    Shapes: [seq, d] -> [seq, d].
    """
    _pos_embed_check(inputs, a)
    return inputs[0]


class ClassToken(nn.Module):
    """Prepends one learned token (BERT's [CLS], ViT's class token)."""

    def __init__(self, dim):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


@block(
    "cls_token",
    family="tokens",
    args=(),
    params=lambda inputs, a: _sequence(inputs),
    module=lambda inputs, a: Construct(ClassToken, {"dim": _sequence(inputs)}),
    positions="F.pad({mask}, (1, 0), value=True)",
    example=("[6, 8]", "cls_token"),
)
def cls_token(inputs, a):
    """Prepends one learned token, which attention layers fill with a summary of the sequence
    (`pool(cls)` reads it back).

    Shapes: [seq, d] -> [seq + 1, d].
    """
    _sequence(inputs)
    seq, d = inputs[0].dims
    return inputs[0].with_dims([seq + 1, d])


class SequencePool(nn.Module):
    """Sequence to vector, honouring a padding mask: the first position (`cls`), the mean or
    maximum over real positions, or the last real position."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x, mask=None):
        if self.mode == "cls":
            return x[:, 0]
        if mask is None:
            if self.mode == "last":
                return x[:, -1]
            return x.mean(dim=1) if self.mode == "mean" else x.amax(dim=1)
        if self.mode == "last":
            return x[torch.arange(x.shape[0], device=x.device), mask.sum(dim=1).clamp(min=1) - 1]
        keep = mask[:, :, None]
        if self.mode == "mean":
            return (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)
        return x.masked_fill(~keep, float("-inf")).amax(dim=1)


def _pool_module(inputs, a) -> Construct:
    if inputs[0].kind == "graph":
        return Construct(GraphPool, {"mode": a.mode})
    return Construct(SequencePool, {"mode": a.mode})


@block(
    "pool",
    family="tokens",
    args=(
        Arg(
            "mode",
            "enum",
            doc="`cls` (position 0), `mean`, `max` or `last` of a sequence; `mean`, `sum` or `max` of each graph",
            choices=("cls", "mean", "max", "last", "sum"),
        ),
    ),
    flops=lambda inputs, out, a: 0 if a.mode in ("cls", "last") else inputs[0].dims[0] * inputs[0].dims[1],
    module=_pool_module,
    masked=True,
    graph=True,
    positions="drop",
    accepts=("float", "graph"),
    example=("[6, 8]", "pool(mean)"),
)
def pool(inputs, a):
    """Sequence to one vector: the first position (`cls`), the mean or maximum over positions, or
    the last one; padding positions are left out when a mask is given. On a graph it is the
    per-graph readout for graph classification (Xu et al. 2019 sum, or mean, or max), one vector
    per graph of the batch, membership read from the graph's `batch`.

    Shapes: [seq, d] -> [d]; graph[nodes, F] -> [F] per graph.
    """
    if inputs[0].kind == "graph":
        if a.mode not in ("mean", "sum", "max"):
            raise ShapeError(f"a graph is pooled by mean, sum or max, not {a.mode}", "write pool(mean)")
        if inputs[0].rank != 2:
            raise ShapeError(f"expects node features graph[nodes, F], got {inputs[0]}")
        return TensorType(inputs[0].dims[1:])
    if a.mode == "sum":
        raise ShapeError("`sum` pools graphs; a sequence is pooled by cls, mean, max or last", "write pool(mean)")
    _sequence(inputs)
    return inputs[0].with_dims(inputs[0].dims[1:])


class PatchEmbed(nn.Conv2d):
    """Image to a sequence of patch embeddings: a convolution with stride = kernel = patch, flattened."""

    def forward(self, x):
        return super().forward(x).flatten(2).transpose(1, 2)  # (B, patches, dim)


def _patches(inputs, a):
    x = inputs[0]
    if x.rank != 3:
        raise ShapeError(f"expects an image [C, H, W], got {x}")
    channels = known_size(x.dims[0], "the channel (first) dimension")
    for size in x.dims[1:]:
        if is_known(size) and size % a.patch:
            raise ShapeError(f"patch = {a.patch} must divide the image size, got {x}")
    return channels, (x.dims[1] // a.patch) * (x.dims[2] // a.patch)


@block(
    "patch_embed",
    family="attention",
    args=(
        Arg("patch", "int", doc="patch side in pixels", low=1),
        Arg("dim", "int", doc="embedding size", low=1),
        Arg("bias", "bool", True, "a learned bias per embedding feature"),
    ),
    params=lambda inputs, a: a.dim * _patches(inputs, a)[0] * a.patch**2 + (a.dim if a.bias else 0),
    flops=lambda inputs, out, a: 2 * a.dim * _patches(inputs, a)[0] * a.patch**2 * _patches(inputs, a)[1],
    module=lambda inputs, a: Construct(
        PatchEmbed,
        {
            "in_channels": _patches(inputs, a)[0],
            "out_channels": a.dim,
            "kernel_size": a.patch,
            "stride": a.patch,
            "bias": a.bias,
        },
    ),
    example=("[3, 8, 8]", "patch_embed(4, 16)"),
)
def patch_embed(inputs, a):
    """Cuts an image into patch × patch squares and embeds each as one token (Dosovitskiy et al.
    2021): a convolution with stride = patch, with a bias unless `bias = false` (as CLIP's).

    Shapes: [C, H, W] -> [(H/patch)·(W/patch), dim].
    """
    _, count = _patches(inputs, a)
    return inputs[0].with_dims([count, a.dim])
