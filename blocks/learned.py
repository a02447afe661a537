"""Learned tensors: `param([d1, …])`, weights with no input, the same for every example."""

from __future__ import annotations

import torch
from torch import nn

from .dims import product
from .registry import Arg, Construct, Family, ShapeError, block
from .tensor_type import TensorType

LEARNED = Family("learned", "#f3dcc8", "Learned tensors with no input (latent arrays, scales).")


class LearnedTensor(nn.Module):
    """A learned tensor of a fixed per-example shape, broadcast over the batch (Perceiver's latent
    array, Jaegle et al. 2021; CLIP's logit scale, Radford et al. 2021). `like` only lends its batch size."""

    def __init__(self, shape: tuple[int, ...], init: str = "normal"):
        super().__init__()
        fill = {"zeros": torch.zeros, "ones": torch.ones}.get(init)
        value = fill(shape) if fill else torch.randn(shape) * 0.02  # the small normal of BERT's and ViT's tables
        self.value = nn.Parameter(value)

    def forward(self, like):
        return self.value.expand(like.shape[0], *self.value.shape)  # (B, *shape), no copy


def _dims(a) -> tuple[int, ...]:
    dims = a.shape if isinstance(a.shape, list) else [a.shape]
    if any(d < 1 for d in dims):
        raise ShapeError(f"sizes must be at least 1, got {list(dims)}")
    return tuple(dims)


@block(
    "param",
    family="learned",
    args=(
        Arg("shape", "ints", doc="the per-example shape, a list of sizes: [64, 128]"),
        Arg(
            "init",
            "enum",
            "normal",
            "`normal` (mean 0, std 0.02), `zeros` or `ones`",
            choices=("normal", "zeros", "ones"),
        ),
    ),
    params=lambda inputs, a: product(_dims(a)),
    module=lambda inputs, a: Construct(LearnedTensor, {"shape": _dims(a), "init": a.init}),
    source=True,
    positions="drop",  # the first input's padding mask is not this tensor's
    accepts=("float", "tokens", "graph"),  # the model's first input, read for its batch size only
    example=("[4, 8]", "param([3, 8], init = zeros)"),
)
def param(inputs, a):
    """A learned tensor with no input, the same for every example: a pipeline begins with it, as with a
    merge (`lat = param([64, 128])`, Perceiver's latents; `param([1], init = zeros) -> exp`, CLIP's logit
    scale). At run time it is expanded to the batch size of the model's first input.

    Shapes: (no input) -> [d1, …].
    """
    if not inputs:  # a moe expert's body is a graph of its own, without the model's inputs
        raise ShapeError(
            "a learned tensor takes its batch size from the model's first input, which a moe expert cannot see",
            "bind the param in the model, outside the moe",
        )
    if inputs[0].kind == "graph":
        raise ShapeError(
            f"a learned tensor takes its batch size from the model's first input, but that is {inputs[0]}, whose "
            "batch of graphs has no batch axis",
            "declare a tensor input first, or learn the values with a dense layer on the node features",
        )
    return TensorType(_dims(a))
