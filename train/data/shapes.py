"""Synthetic segmentation: grey images of circles and squares on a noisy background, with their
masks (0 background, 1 circle, 2 square). Seeded and small; made up, not a published data set.

Each image holds 1 to `shapes` shapes of random size, place and brightness; a later shape covers an
earlier one, in the image and in the mask. Circles and squares are drawn with the same brightness
range, so only their outline tells them apart. The images take the input's declared size.
"""

from __future__ import annotations

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import split_tensors
from .options import MAX_VALUES

SHAPES_OPTIONS = {"count": 800, "shapes": 3, "noise": 0.1}
CLASSES = ("background", "circle", "square")


def draw_shapes(count: int, height: int, width: int, most: int, noise: float, seed: int):
    """(images (count, 1, H, W) in about [0, 1], masks (count, H, W) of class ids)."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, n: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    side = min(height, width)
    rows = torch.arange(height, dtype=torch.float32)[None, :, None]  # (1, H, 1)
    cols = torch.arange(width, dtype=torch.float32)[None, None, :]  # (1, 1, W)
    images = torch.zeros(count, height, width)
    masks = torch.zeros(count, height, width, dtype=torch.long)
    drawn = torch.randint(1, most + 1, (count,), generator=generator)
    for k in range(most):
        kind = torch.randint(1, len(CLASSES), (count,), generator=generator)  # 1 circle, 2 square
        size = uniform(side * 0.1, side * 0.22, count)[:, None, None]  # radius, or half a side
        cy = uniform(0, height, count)[:, None, None]
        cx = uniform(0, width, count)[:, None, None]
        brightness = uniform(0.5, 1.0, count)[:, None, None]
        dy, dx = rows - cy, cols - cx
        circle = dy.square() + dx.square() <= size.square()
        square = (dy.abs() <= size * 0.886) & (dx.abs() <= size * 0.886)  # the circle's area: √π/2
        inside = torch.where((kind == 1)[:, None, None], circle, square) & (k < drawn)[:, None, None]
        images = torch.where(inside, brightness, images)
        masks = torch.where(inside, kind[:, None, None], masks)
    images = images + noise * torch.randn(images.shape, generator=generator)
    return images[:, None], masks


def shapes(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str):
    dims = tuple(kind.dims)
    if kind.kind != "float" or len(dims) != 3 or dims[0] != 1 or not all(isinstance(d, int) for d in dims):
        raise TrainError(
            f"data 'shapes' is grey images [1, H, W] with per-pixel masks; input '{name}' is {kind.kind}{list(dims)}",
            f"declare `input {name}: [1, 32, 32]` (any fixed size from 8 pixels up)",
        )
    if min(dims[1:]) < 8:
        raise TrainError(f"data 'shapes' needs images of at least 8 x 8 pixels; input '{name}' is {list(dims)}")
    count, height, width = options["count"], dims[1], dims[2]
    if count * height * width > MAX_VALUES:
        raise TrainError(
            f"data 'shapes': {count:,} images of {height} x {width} are more than {MAX_VALUES:,} pixels to generate",
            "lower data.options.count or the input's size",
        )
    images, masks = draw_shapes(count, height, width, options["shapes"], options["noise"], seed)
    return split_tensors(
        "shapes",
        "segmentation",
        {name: images},
        masks,
        seed,
        val,
        test,
        classes=len(CLASSES),
        info=f"{count} synthetic {height}x{width} images of circles and squares with their masks "
        f"(classes: {', '.join(CLASSES)})",
    )
