"""The probe's pictures, drawn with matplotlib's object API (no pyplot state, no display needed):
the latent space's first two principal components, attention maps, tokens per expert and a KAN
layer's learned functions. Each function writes one PNG and returns its path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

DPI = 110


def principal_components(values: np.ndarray, count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rows projected on their first `count` principal components (SVD of the centred rows), and the
    fraction of the variance each explains. (N, F) -> (N, count), (count,)."""
    centred = values - values.mean(0)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ right[:count].T
    variance = singular**2
    explained = variance[:count] / max(variance.sum(), 1e-12)
    if projected.shape[1] < count:  # fewer features than components: the rest is zero
        projected = np.pad(projected, ((0, 0), (0, count - projected.shape[1])))
        explained = np.pad(explained, (0, count - len(explained)))
    return projected, explained


def latent_pca(values: np.ndarray, labels: np.ndarray | None, title: str, path: Path) -> Path:
    """A scatter of the rows (each flattened) on their first two principal components, coloured by label."""
    points, explained = principal_components(values.reshape(len(values), -1).astype(np.float64))
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], s=8, alpha=0.7)
    else:
        classes = np.unique(labels)
        cmap = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "viridis"
        shown = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, s=8, alpha=0.8)
        if len(classes) <= 20:  # a legend names classes; a colour bar suits many (or ordered) labels
            axes.legend(*shown.legend_elements(), title="label", fontsize=7, loc="best", markerscale=0.8)
        else:
            figure.colorbar(shown, ax=axes, label="label")
    axes.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
    axes.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def attention_heads(weights: torch.Tensor, title: str, path: Path) -> Path:
    """One panel per head: the weights (heads, queries, keys), averaged over examples."""
    heads = weights.shape[0]
    columns = min(heads, 4)
    rows = math.ceil(heads / columns)
    figure = Figure(figsize=(3.2 * columns, 3 * rows + 0.4))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for head, axes in enumerate(grid):
        if head >= heads:
            axes.axis("off")
            continue
        shown = axes.imshow(weights[head].numpy(), cmap="viridis", vmin=0)
        axes.set_title(f"head {head + 1}", fontsize=9)
        axes.set_xlabel("key", fontsize=8)
        axes.set_ylabel("query", fontsize=8)
        figure.colorbar(shown, ax=axes, fraction=0.046)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def attention_rollout(rolled: torch.Tensor, layers: int, path: Path) -> Path:
    """The rollout (queries, keys), averaged over examples, and the attention each token receives
    (the rollout's mean over queries)."""
    figure = Figure(figsize=(11, 4.5))
    left, right = figure.subplots(1, 2)
    shown = left.imshow(rolled.numpy(), cmap="viridis", vmin=0)
    left.set_title(f"attention rollout over {layers} layer{'s' if layers != 1 else ''}", fontsize=10)
    left.set_xlabel("key token")
    left.set_ylabel("query token")
    figure.colorbar(shown, ax=left, fraction=0.046)
    received = rolled.mean(0).numpy()
    right.bar(np.arange(len(received)), received)
    right.set_title("attention each token receives (mean over queries)", fontsize=10)
    right.set_xlabel("token")
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def experts(counts: dict[str, list[int]], path: Path) -> Path:
    """Bars of the tokens (or examples) each expert was sent, one panel per router."""
    figure = Figure(figsize=(max(4.0, 0.5 * max(len(c) for c in counts.values()) + 2), 3 * len(counts)))
    panels = np.atleast_1d(figure.subplots(len(counts), 1, squeeze=False)).ravel()
    for axes, (node, values) in zip(panels, counts.items()):
        axes.bar(np.arange(1, len(values) + 1), values)
        axes.set_xticks(np.arange(1, len(values) + 1))
        axes.set_xlabel("expert")
        axes.set_ylabel("routed")
        axes.set_title(f"{node}: {sum(values):,} assignments", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def kan_functions(xs: torch.Tensor, ys: torch.Tensor, title: str, path: Path, most: int = 16) -> Path:
    """The learned functions φ_oi (out, in, points) with the largest range, at most `most` of them."""
    spread = (ys.amax(-1) - ys.amin(-1)).flatten()
    chosen = spread.argsort(descending=True)[:most].tolist()
    columns = min(len(chosen), 4)
    rows = math.ceil(len(chosen) / columns)
    figure = Figure(figsize=(3 * columns, 2.4 * rows + 0.5))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axes in grid[len(chosen) :]:
        axes.axis("off")
    inputs = ys.shape[1]
    for axes, index in zip(grid, chosen):
        o, i = divmod(index, inputs)
        axes.plot(xs.numpy(), ys[o, i].numpy())
        axes.axhline(0, color="grey", linewidth=0.5)
        axes.set_title(f"φ(in {i + 1} → out {o + 1})", fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path
