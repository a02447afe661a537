"""The confusion matrix of a multi-class run's test split, drawn beside its curves (confusion.png)."""

from __future__ import annotations

from pathlib import Path

import torch

from . import metrics


def write_confusion(engine, split, out: Path, write: bool, batch_size: int = 256) -> Path | None:
    """Rows: true classes, columns: predicted; only for classification with more than two classes.
    Every process runs the forward passes (under FSDP or DDP they are collective); `write` says
    which one draws."""
    setup = engine.setup
    task, classes = setup.task, setup.data.classes
    if task.name not in ("classification", "graph_classification") or not classes or classes <= 2:
        return None
    engine.runner.eval()
    sums: dict[str, float] = {}
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            batch = split.batch(torch.arange(start, min(start + batch_size, len(split)))).to(setup.device)
            _, counts, _ = engine.forward(batch)
            for key, value in counts.items():
                if key.startswith("confusion_"):
                    sums[key] = sums.get(key, 0.0) + value
    if not write:
        return None
    path = out / "confusion.png"
    matrix = metrics.confusion_matrix(sums, classes)
    title = f"{setup.checked.name} on {setup.data.name}: test macro-F1 {metrics.macro_f1(matrix):.3f}"
    metrics.plot_confusion(matrix, setup.data.labels, path, title)
    return path
