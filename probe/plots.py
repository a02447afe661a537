"""The probe's pictures, drawn with matplotlib's object API (no pyplot state, no display needed):
the latent space (a 2-number value as itself, a larger one on its first two principal components),
attention maps, tokens per expert and a KAN layer's learned functions. Each function writes one PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 110
LANCZOS_FROM = 64  # rows and features both above this: ARPACK's few components, not a full SVD


def principal_components(values: np.ndarray, count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rows projected on their first `count` principal components (SVD of the centred rows), and the
    fraction of the variance each explains. (N, F) -> (N, count), (count,)."""
    centred = values - values.mean(0)
    total = max(float((centred**2).sum()), 1e-12)
    if min(centred.shape) > LANCZOS_FROM:  # the leading components alone: a full SVD of a language
        from scipy.sparse.linalg import svds  # model's logits (3,200 × 20,004) took six minutes

        _, singular, right = svds(centred, k=count, random_state=0)
        order = np.argsort(singular)[::-1]
        singular, right = singular[order], right[order]
    else:
        _, singular, right = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ right[:count].T
    explained = singular[:count] ** 2 / total
    if projected.shape[1] < count:  # fewer features than components: the rest is zero
        projected = np.pad(projected, ((0, 0), (0, count - projected.shape[1])))
        explained = np.pad(explained, (0, count - len(explained)))
    return projected, explained


def latent(
    values: np.ndarray, labels: np.ndarray | None, title: str, path: Path, legend: str = "label", names=None
) -> Path:
    """A scatter of the rows (each flattened), coloured by label: a 2-D value as its own two
    coordinates (z₁ against z₂), a larger one on its first two principal components. `names` maps
    label values to what they stand for (tokens, say)."""
    flat = values.reshape(len(values), -1).astype(np.float64)
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    if flat.shape[1] == 2:
        points = flat
        axes.set_xlabel("z₁ (the value's first coordinate)")
        axes.set_ylabel("z₂ (its second)")
    else:
        points, explained = principal_components(flat)
        axes.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
        axes.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
    scatter_by_label(figure, axes, points, labels, legend, names)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def scatter_by_label(figure, axes, points: np.ndarray, labels: np.ndarray | None, legend="label", names=None) -> None:
    """Points (N, 2) coloured by label: a legend for up to 20 classes, a colour bar beyond."""
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], s=8, alpha=0.7)
        return
    other = next((label for label, name in (names or {}).items() if name == "other"), None)
    if other is not None:  # the many rare tokens, in grey behind the named ones
        rest = labels == other
        axes.scatter(points[rest, 0], points[rest, 1], s=6, alpha=0.4, color="lightgrey", label="other")
        points, labels = points[~rest], labels[~rest]
    classes = np.unique(labels)
    cmap = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "viridis"
    shown = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, s=8, alpha=0.8)
    if len(classes) <= 20:  # a legend names classes; a colour bar suits many (or ordered) labels
        handles, texts = shown.legend_elements(num=list(classes))
        if names is not None:
            texts = [names.get(int(c), str(c)) for c in classes]
        if other is not None:
            handles, texts = [*handles, axes.collections[0]], [*texts, "other"]
        axes.legend(handles, texts, title=legend, fontsize=7, loc="best", markerscale=0.8)
    else:
        figure.colorbar(shown, ax=axes, label=legend)


def attention_heads(weights: torch.Tensor, title: str, path: Path, tokens: list[str] | None = None) -> Path:
    """One panel per head: the weights (heads, queries, keys), averaged over examples or of one
    example, whose `tokens` then label the axes."""
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
        _token_axes(axes, weights.shape[-2], weights.shape[-1], tokens)
        figure.colorbar(shown, ax=axes, fraction=0.046)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def _token_axes(axes, queries: int, keys: int, tokens: list[str] | None) -> None:
    """Integer positions on both axes, or the tokens themselves where they fit (up to 48)."""
    if tokens is not None and len(tokens) == keys == queries and keys <= 48:
        shown = [repr(t)[1:-1] or "·" for t in tokens]  # escapes newlines and tabs
        axes.set_xticks(range(keys), shown, rotation=90, fontsize=6, fontfamily="monospace")
        axes.set_yticks(range(queries), shown, fontsize=6, fontfamily="monospace")
        return
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def attention_rollout(rolled: torch.Tensor, layers: int, path: Path) -> Path:
    """The rollout (queries, keys), averaged over examples, and the attention each token receives
    (the rollout's mean over queries)."""
    figure = Figure(figsize=(11, 4.5))
    left, right = figure.subplots(1, 2)
    shown = left.imshow(rolled.numpy(), cmap="viridis", vmin=0)
    left.set_title(f"attention rollout over {layers} layer{'s' if layers != 1 else ''}", fontsize=10)
    left.set_xlabel("key token")
    left.set_ylabel("query token")
    _token_axes(left, *rolled.shape, None)
    figure.colorbar(shown, ax=left, fraction=0.046)
    received = rolled.mean(0).numpy()
    right.bar(np.arange(len(received)), received)
    right.set_title("attention each token receives (mean over queries)", fontsize=10)
    right.set_xlabel("token")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def experts(counts: dict[str, list[int]], path: Path, names: list[str] | None = None) -> Path:
    """Bars of the tokens (or examples) each expert was sent, one panel per router; `names` label the
    experts (by their bodies, when they differ)."""
    figure = Figure(figsize=(max(4.0, 0.5 * max(len(c) for c in counts.values()) + 2), 3 * len(counts)))
    panels = np.atleast_1d(figure.subplots(len(counts), 1, squeeze=False)).ravel()
    for axes, (node, values) in zip(panels, counts.items()):
        axes.bar(np.arange(1, len(values) + 1), values)
        ticks = np.arange(1, len(values) + 1)
        if names is not None and len(names) == len(values):
            axes.set_xticks(
                ticks, [f"{i}: {name}" for i, name in zip(ticks, names)], rotation=20, ha="right", fontsize=7
            )
        else:
            axes.set_xticks(ticks)
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
