"""The run directory: what a run leaves behind, for people (curves, tables) and for `--resume`,
`evaluate` and `load_run`.

    config.yaml          the resolved config
    spec.cram            a copy of the spec (run.json keeps where it came from)
    run.json             model, task, data, tokenizer, spec hash
    metrics.csv          one row per epoch: train and validation metrics, learning rate, time
    grad_norms.csv/.png  per-block gradient norms, mean over each epoch's steps
    curves.png           loss and metric curves
    final.json           final test metrics (test_accuracy for classification …)
    model.safetensors    the best-by-validation weights, with metadata
    checkpoints/last.safetensors, checkpoints/best.safetensors
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
from pathlib import Path

from .config import dump


def default_out(model: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{model}-{stamp}"


def write_text(path: Path, text: str) -> None:
    """Atomically: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_config(out: Path, config: dict) -> None:
    write_text(out / "config.yaml", dump(config))


def write_rows(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return [
            {k: float(v) if v not in ("", None) else None for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def plot_curves(out: Path, history: list[dict], main: str) -> None:
    """curves.png: loss (train and validation) and the main metric by epoch."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", main)):
        for split in ("train", "val"):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=f"{split} {metric}")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        if metric in ("loss", "perplexity", "mse") and all((v or 0) > 0 for v in values):
            ax.set_yscale("log")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=110)
    plt.close(figure)


def plot_grad_norms(out: Path, rows: list[dict]) -> None:
    """grad_norms.png: one line per block, log scale — vanishing and exploding gradients show as
    lines that sink towards zero or shoot up, early layers first."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(8, 4.5))
    blocks = [k for k in rows[0] if k != "epoch"]
    epochs = [row["epoch"] for row in rows]
    colors = plt.get_cmap("viridis")
    for i, block in enumerate(blocks):
        values = [max(row.get(block) or 0.0, 1e-12) for row in rows]
        ax.plot(epochs, values, color=colors(i / max(len(blocks) - 1, 1)), label=block)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm (mean over steps)")
    ax.set_title("per-block gradient norms (input side dark, output side light)")
    ax.grid(alpha=0.3)
    if len(blocks) <= 16:
        ax.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(out / "grad_norms.png", dpi=110)
    plt.close(figure)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
