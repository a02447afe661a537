"""Walking a latent space with the part of the model after it (the lecture's "exploring latent
spaces"): points of a plane through the latent values a split gives — a regular grid over a 2-D
latent's range, the plane of the two principal directions otherwise — and straight lines between
pairs of examples, each decoded by the partial model from the node to the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import ProbeError


@dataclass
class Plane:
    """A plane in the latent space: the point at (s, t) is `origin + s·axes[0] + t·axes[1]`. For a
    2-D latent the axes are z₁ and z₂ themselves; otherwise the two principal directions."""

    origin: np.ndarray  # (features,)
    axes: np.ndarray  # (2, features)
    names: tuple[str, str]
    spans: tuple[tuple[float, float], tuple[float, float]]  # (low, high) of s and of t over the split

    def coordinates(self, values: np.ndarray) -> np.ndarray:
        """Each row's (s, t): its projection on the plane. (N, features) -> (N, 2)."""
        return (values - self.origin) @ self.axes.T

    def points(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self.origin + s[..., None] * self.axes[0] + t[..., None] * self.axes[1]


def latent_plane(values: np.ndarray) -> Plane:
    """The plane the grid is laid on, spanning the range of the split's values (N, features)."""
    features = values.shape[1]
    if features == 2:
        origin, axes, names = np.zeros(2), np.eye(2), ("z₁", "z₂")
    else:
        origin = values.mean(0)
        _, _, right = np.linalg.svd(values - origin, full_matrices=False)
        axes = right[:2] if len(right) >= 2 else np.eye(2, features)
        names = ("principal direction 1", "principal direction 2")
    coordinates = (values - origin) @ axes.T
    low, high = coordinates.min(0), coordinates.max(0)
    return Plane(origin, axes, names, ((float(low[0]), float(high[0])), (float(low[1]), float(high[1]))))


@dataclass
class Decoded:
    """What the decoder made of the grid and the interpolations."""

    plane: Plane
    s: np.ndarray  # (steps,) the grid's coordinates along the plane's first axis
    t: np.ndarray  # (steps,) and its second (rows of the grid, top to bottom: t decreasing)
    grid: np.ndarray  # (steps, steps, *output shape): row r, column c decodes (s[c], t[r])
    pairs: list[tuple[int, int]]  # the split rows interpolated between
    lines: np.ndarray  # (pairs, steps, *output shape)
    output: str  # the output decoded


def decode_latent(
    decoder: nn.Module,
    outputs: list[str],
    values: np.ndarray,
    labels: np.ndarray | None,
    shape: tuple,
    steps: int = 10,
    pairs: int = 4,
) -> Decoded:
    """Decode a `steps` × `steps` grid over the plane of `values` (N, *shape: the node's values over a
    split) and `pairs` interpolations between split rows (of different labels where there are labels).
    `decoder` is the partial model after the node; its first output (of `outputs`) is the one drawn."""
    if values.dtype.kind != "f" or len(values) < 2:
        raise ProbeError("decoding needs the node's floating-point values for at least two examples")
    flat = values.reshape(len(values), -1).astype(np.float64)
    if flat.shape[1] < 2:
        raise ProbeError("decoding walks a plane: the node needs at least two values per example")
    plane = latent_plane(flat)
    (s_low, s_high), (t_low, t_high) = plane.spans
    s = np.linspace(s_low, s_high, steps)
    t = np.linspace(t_high, t_low, steps)  # the top row has the highest t, as on the scatter's axes
    grid_points = plane.points(*np.meshgrid(s, t)).reshape(steps * steps, -1)
    chosen = _pairs(len(flat), labels, pairs)
    fractions = np.linspace(0, 1, steps)[None, :, None]
    line_points = (
        flat[[a for a, _ in chosen]][:, None] * (1 - fractions) + flat[[b for _, b in chosen]][:, None] * fractions
    )
    grid = _run(decoder, grid_points, shape)
    lines = _run(decoder, line_points.reshape(-1, flat.shape[1]), shape)
    return Decoded(
        plane,
        s,
        t,
        grid.reshape(steps, steps, *grid.shape[1:]),
        chosen,
        lines.reshape(len(chosen), steps, *lines.shape[1:]),
        outputs[0],
    )


def _pairs(rows: int, labels: np.ndarray | None, count: int) -> list[tuple[int, int]]:
    """Pairs of rows to interpolate between: the first rows of label 0 and 1, 2 and 3, … where there
    are labels (so each line crosses between classes), else rows spread over the split."""
    if labels is not None:
        firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
        if len(firsts) >= 2:
            chosen = [(firsts[i], firsts[i + 1]) for i in range(0, len(firsts) - 1, 2)]
            return chosen[:count]
    spread = np.linspace(0, rows - 1, 2 * count).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(spread[0::2], spread[1::2]) if a != b][:count] or [(0, rows - 1)]


def _run(decoder: nn.Module, points: np.ndarray, shape: tuple) -> np.ndarray:
    inputs = torch.as_tensor(points, dtype=torch.float32).reshape(len(points), *shape)
    with torch.no_grad():
        value = decoder(inputs)
    value = value[0] if isinstance(value, tuple) else value
    return value.detach().float().cpu().numpy()


def is_image(shape: tuple[int, ...]) -> bool:
    """Whether an output per example is drawn as an image: [H, W], or [C, H, W] with 1 or 3 channels."""
    return (len(shape) == 2 and min(shape) > 1) or (len(shape) == 3 and shape[0] in (1, 3) and min(shape[1:]) > 1)


# -- pictures ------------------------------------------------------------------------------------


def decoded_figure(decoded: Decoded, values: np.ndarray, labels: np.ndarray | None, title: str, path) -> None:
    """`decoded.png`: the split's latent values on the plane, coloured by label, with the grid
    marked, beside what the decoder makes of each grid point (images in place, values otherwise)."""
    from matplotlib.figure import Figure

    from .plots import DPI, scatter_by_label

    figure = Figure(figsize=(12, 5.6))
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.1])
    points = decoded.plane.coordinates(values.reshape(len(values), -1).astype(np.float64))
    scatter_by_label(figure, left, points, labels)
    s, t = np.meshgrid(decoded.s, decoded.t)
    left.scatter(s.ravel(), t.ravel(), marker="+", color="black", s=14, linewidths=0.6, label="decoded")
    for a, b in decoded.pairs:
        left.annotate("", points[b], points[a], arrowprops={"arrowstyle": "->", "color": "dimgrey", "lw": 0.8})
    left.set_xlabel(decoded.plane.names[0])
    left.set_ylabel(decoded.plane.names[1])
    left.set_title("the split's values; + decoded points, → interpolations", fontsize=9)
    _mosaic(right, decoded.grid)
    step_s = (decoded.s[-1] - decoded.s[0]) / max(len(decoded.s) - 1, 1)
    right.set_title(
        f"{decoded.output} decoded on a {len(decoded.s)}×{len(decoded.t)} grid (step {step_s:.2g})", fontsize=9
    )
    right.set_xlabel(f"{decoded.plane.names[0]} →")
    right.set_ylabel(f"← {decoded.plane.names[1]}")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)


def interpolations_figure(decoded: Decoded, labels: np.ndarray | None, path) -> None:
    """`interpolations.png`: one row per pair of examples, decoded along the straight line between them."""
    from matplotlib.figure import Figure

    from .plots import DPI

    rows = len(decoded.pairs)
    columns = decoded.lines.shape[1]
    height = 10 * rows / columns * (decoded.lines.shape[-2] / decoded.lines.shape[-1] if _images(decoded.lines) else 1)
    figure = Figure(figsize=(10, max(2.5, height + 1.2)))
    axes = figure.subplots()
    _mosaic(axes, decoded.lines)
    names = [f"{a} → {b}" if labels is None else f"{labels[a]} → {labels[b]}" for a, b in decoded.pairs]
    if _images(decoded.lines):  # image rows are `height` pixels, top first
        height = decoded.lines.shape[-2]
        axes.set_yticks([(r + 0.5) * height for r in range(rows)], names)
    else:  # line cells fill [0, 1], top first
        axes.set_yticks([(rows - r - 0.5) / rows for r in range(rows)], names)
    axes.set_ylabel("label → label" if labels is not None else "row → row")
    axes.set_xlabel("from the first example to the second, in equal steps")
    figure.suptitle("decoded along straight lines between pairs of examples", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)


def _images(cells: np.ndarray) -> bool:
    return is_image(cells.shape[2:])


def _mosaic(axes, cells: np.ndarray) -> None:
    """Draw (rows, columns, *item) in one panel: images side by side, or each item's values as a
    small line in its cell (a scalar as a heat map)."""
    rows, columns = cells.shape[:2]
    item = cells.shape[2:]
    axes.set_xticks([])
    axes.set_yticks([])
    if is_image(item):
        images = cells if len(item) == 2 else np.moveaxis(cells, 2, -1)  # channels last
        height, width = images.shape[2:4]
        mosaic = images.swapaxes(1, 2).reshape(rows * height, columns * width, *images.shape[4:])
        if mosaic.ndim == 3 and mosaic.shape[-1] == 1:
            mosaic = mosaic[..., 0]
        if mosaic.ndim == 3:
            mosaic = np.clip(mosaic, 0, 1)
        axes.imshow(mosaic, cmap="gray_r", interpolation="nearest")
        for r in range(1, rows):
            axes.axhline(r * height - 0.5, color="tab:grey", linewidth=0.5)
        for c in range(1, columns):
            axes.axvline(c * width - 0.5, color="tab:grey", linewidth=0.5)
        return
    flat = cells.reshape(rows, columns, -1)
    if flat.shape[-1] == 1:
        shown = axes.imshow(flat[..., 0], cmap="viridis", extent=(0, 1, 0, 1), aspect="auto")
        axes.figure.colorbar(shown, ax=axes, fraction=0.046)
        return
    low, high = float(flat.min()), float(flat.max())
    scale = (flat - low) / (high - low if high > low else 1.0)
    xs = np.linspace(0.08, 0.92, flat.shape[-1])
    for r in range(rows):
        for c in range(columns):
            y = (rows - 1 - r) + 0.1 + 0.8 * scale[r, c]
            axes.plot((c + xs) / columns, y / rows, color="tab:blue", linewidth=0.8)
    for r in range(1, rows):
        axes.axhline(r / rows, color="lightgrey", linewidth=0.5)
    for c in range(1, columns):
        axes.axvline(c / columns, color="lightgrey", linewidth=0.5)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.text(0.99, 0.01, f"values from {low:.3g} to {high:.3g}", transform=axes.transAxes, ha="right", fontsize=7)
