"""Images: upsampling and stochastic depth (the forms ConvNeXt, EfficientNet and U-Nets reach for)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import numel

IMAGES = Family("images", "#e5f5c8", "Image-sized helpers: upsampling.")


def _scales(inputs, a) -> tuple[int, ...]:
    x = inputs[0]
    if x.rank not in (2, 3):
        raise ShapeError(f"expects a channel-first [C, L] or [C, H, W] input, got {x}")
    spatial = x.rank - 1
    if a.mode == "bilinear" and spatial != 2:
        raise ShapeError(f"mode = bilinear needs an image [C, H, W], got {x}", "use mode = nearest on [C, L]")
    scales = a.scale if isinstance(a.scale, list) else [a.scale] * spatial
    if len(scales) != spatial:
        raise ShapeError(f"scale needs 1 or {spatial} values, got {len(scales)}: {a.scale}")
    return tuple(scales)


def _upsample_source(module, names, a, inputs) -> str:
    factors = tuple(float(s) for s in _scales(inputs, a))
    return f"F.interpolate({names[0]}, scale_factor={factors!r}, mode={a.mode!r})"


@block(
    "upsample",
    family="images",
    args=(
        Arg("scale", "ints", doc="integer factor per spatial axis: an int or one per axis", low=1),
        Arg(
            "mode",
            "enum",
            "nearest",
            "`nearest` (copies) or `bilinear` (interpolates; images only)",
            choices=("nearest", "bilinear"),
        ),
    ),
    flops=lambda inputs, out, a: 0 if a.mode == "nearest" else 8 * numel(out),  # 3 lerps of ~2 multiply-adds + weights
    forward=_upsample_source,
    example=("[3, 4, 5]", "upsample(2, mode = bilinear)"),
)
def upsample(inputs, a):
    """Enlarges the spatial axes by integer factors, copying the nearest pixel or interpolating
    bilinearly with align_corners = false (nn.Upsample; the decoder of a U-Net, Ronneberger et al. 2015).

    Shapes: [C, H, W] -> [C, H·s, W·s]; [C, L] -> [C, L·s] (nearest).
    """
    x = inputs[0]
    scales = _scales(inputs, a)
    return x.with_dims([x.dims[0], *(d * s for d, s in zip(x.dims[1:], scales))])


class DropPath(nn.Module):
    """Stochastic depth per example (Huang et al. 2016): in training, each example's value is zeroed
    with probability p and the kept ones scaled by 1/(1 - p); the identity in eval."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * keep.bernoulli_(1 - self.p) / (1 - self.p)  # (B, 1, …): one draw per example


@block(
    "drop_path",
    family="regularisation",
    args=(Arg("p", "float", doc="probability of dropping an example's whole value in training", low=0.0, below=1.0),),
    flops=lambda inputs, out, a: numel(inputs[0]),
    module=lambda inputs, a: Construct(DropPath, {"p": a.p}),
    decodes=True,  # the identity in evaluation
    example=("[4, 8]", "drop_path(0.2)"),
)
def drop_path(inputs, a):
    """Stochastic depth (Huang et al. 2016): at the end of a residual body, `residual { … -> drop_path(0.1) }`,
    it drops the whole branch for a random subset of the examples in training (x + 0 for them), scaling
    the rest by 1/(1 - p); the identity in eval.

    Shapes: any -> same.
    """
    return inputs[0]
