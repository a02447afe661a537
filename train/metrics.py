"""Metrics that need more than a mean over batches, kept as sums so that batches (and processes)
add up: a confusion matrix (macro-F1), score histograms (AUROC, AUPRC) and top-L contact precision.

Counts live in the loop's flat dict of floats under prefixed keys (`confusion_3_1`, `roc_pos_17`),
which the loop and DDP's all-reduce already know how to add. Every key is present in every batch,
zero or not, so that all processes of a distributed run reduce the same keys."""

from __future__ import annotations

from pathlib import Path

import torch

BINS = 400  # score histogram on the logit scale; AUROC to about 3 decimals
LOGIT_RANGE = 12.0
MOST_CLASSES = 100  # a confusion matrix beyond this is more keys than it is worth


def confusion_counts(pred: torch.Tensor, target: torch.Tensor, classes: int) -> dict[str, float]:
    """Counts of (true, predicted) class pairs; none above MOST_CLASSES classes."""
    if classes > MOST_CLASSES:
        return {}
    pairs = torch.bincount(target * classes + pred.argmax(-1), minlength=classes * classes).tolist()
    return {f"confusion_{i // classes}_{i % classes}": float(count) for i, count in enumerate(pairs)}


def confusion_matrix(sums: dict, classes: int) -> torch.Tensor:
    matrix = torch.zeros(classes, classes)
    for key, value in sums.items():
        if key.startswith("confusion_"):
            true, predicted = key.split("_")[1:]
            matrix[int(true), int(predicted)] = value
    return matrix


def macro_f1(matrix: torch.Tensor) -> float:
    """The mean over classes that occur (as truth or prediction) of 2·TP / (2·TP + FP + FN)."""
    tp = matrix.diag()
    fp, fn = matrix.sum(0) - tp, matrix.sum(1) - tp
    present = (tp + fp + fn) > 0
    return float((2 * tp / (2 * tp + fp + fn).clamp(min=1))[present].mean()) if present.any() else 0.0


def score_counts(scores: torch.Tensor, positive: torch.Tensor) -> dict[str, float]:
    """Histograms of the scores (probabilities) of positives and negatives, binned by logit."""
    logit = torch.logit(scores.float().clamp(1e-7, 1 - 1e-7)).clamp(-LOGIT_RANGE, LOGIT_RANGE)
    bins = ((logit + LOGIT_RANGE) / (2 * LOGIT_RANGE) * (BINS - 1)).round().long()
    counts = {}
    for name, chosen in (("roc_pos", positive), ("roc_neg", ~positive)):
        hist = torch.bincount(bins[chosen], minlength=BINS).tolist()
        counts |= {f"{name}_{i}": float(count) for i, count in enumerate(hist)}
    return counts


def auroc_auprc(sums: dict) -> tuple[float, float] | None:
    """Areas under the ROC and precision-recall curves from the histograms (ties within a bin count
    half, as in the Mann-Whitney statistic), or None without both positives and negatives."""
    pos, neg = torch.zeros(BINS, dtype=torch.float64), torch.zeros(BINS, dtype=torch.float64)
    for key, value in sums.items():
        if key.startswith("roc_pos_"):
            pos[int(key[8:])] = value
        elif key.startswith("roc_neg_"):
            neg[int(key[8:])] = value
    if pos.sum() == 0 or neg.sum() == 0:
        return None
    neg_below = torch.cumsum(neg, 0) - neg
    auroc = float((pos * (neg_below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))
    tp, fp = pos.flip(0).cumsum(0), neg.flip(0).cumsum(0)  # thresholds from the top score down
    precision = tp / (tp + fp).clamp(min=1)
    recall_step = pos.flip(0) / pos.sum()
    auprc = float((precision * recall_step).sum())  # average precision
    return auroc, auprc


def top_l_precision(contact_prob: torch.Tensor, contact: torch.Tensor, known: torch.Tensor, min_separation: int = 6):
    """Per example: of the L pairs (|i - j| >= min_separation) with the highest predicted contact
    probability, the share that are contacts (L = the number of residues)."""
    n, length = contact_prob.shape[:2]
    index = torch.arange(length, device=contact_prob.device)
    far = (index[None, :] - index[:, None]) >= min_separation  # upper triangle, long range
    scores = contact_prob.masked_fill(~(far & known), float("-inf")).reshape(n, -1)
    top = scores.topk(min(length, int(far.sum())), dim=1).indices
    hits = contact.reshape(n, -1).gather(1, top).float()
    valid = scores.gather(1, top).isfinite().float()
    return (hits * valid).sum(1) / valid.sum(1).clamp(min=1)


def plot_confusion(matrix: torch.Tensor, names: list[str] | None, path: Path, title: str) -> None:
    """A confusion-matrix heat map, rows normalised (recall per true class), with the counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = matrix.shape[0]
    names = names or [str(c) for c in range(classes)]
    share = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
    size = max(4.0, 0.5 * classes + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(share.numpy(), cmap="Blues", vmin=0, vmax=1)
    if classes <= 20:
        for i in range(classes):
            for j in range(classes):
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(classes), names, rotation=45, ha="right")
    ax.set_yticks(range(classes), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
