"""The run directory: what a run leaves behind, for people (curves, tables) and for `--resume`,
`evaluate` and `load_run`.

    config.yaml          the resolved config
    spec.cram            a copy of the spec (run.json keeps where it came from, for people only)
    spec_uses.json       copies of the files the spec `use`s, by path relative to the spec
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
import math
import os
import shutil
from pathlib import Path

from ..compiler import CheckedModel, check_spec
from ..compiler.loader import STD_DIR
from .config import dump
from .errors import TrainError


def default_out(model: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{model}-{stamp}"


def claim_out(out: Path, overwrite: bool = False) -> Path:
    """The directory a new run writes into. A run directory belongs to one run: an existing one that
    holds anything is refused, unless `overwrite`, when the new run is written beside it and replaces
    it only once finished (`publish`), so that a failed second run leaves the first one whole."""
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            raise TrainError(f"cannot use {out} as the run directory: {parent} is a file, not a directory")
    if not out.exists() or not any(out.iterdir()):
        return out
    if not overwrite:
        finished = "a finished run" if (out / "final.json").exists() else "files"
        resume = f"resume it with --resume {out}, " if resumable(out) else ""
        raise TrainError(
            f"{out} already holds {finished}; a run directory belongs to one run",
            f"choose another --out, {resume}or replace it with --overwrite "
            "(the old run is kept until the new one finishes)",
        )
    staging = out.with_name(f".{out.name}.overwrite")
    if staging.exists():  # left by an overwriting run that was killed: it never replaced anything
        shutil.rmtree(staging)
    return staging


def resumable(run: Path) -> bool:
    """Whether `--resume` can continue the run: it wrote a last checkpoint (one file, or FSDP's folder)."""
    return any((run / "checkpoints").glob("last.*"))


def unfinished_hint(run: Path) -> str:
    """What to do with a run that did not finish: resume it, or, killed before its first checkpoint,
    start it again (there is nothing to resume)."""
    if resumable(run):
        return f"resume it: cramnet train --resume {run}"
    return f"it stopped before its first checkpoint; start it again with: cramnet train SPEC --out {run} --overwrite"


def publish(staging: Path, out: Path) -> None:
    """Put a finished run written beside `out` in its place; the old run is removed only then."""
    if staging == out:
        return
    retired = out.with_name(f".{out.name}.replaced-{os.getpid()}")
    os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


def write_spec(out: Path, checked: CheckedModel) -> None:
    """The spec and every file it uses, so that the run loads from its own files alone."""
    root = Path(checked.path).resolve()
    write_text(out / "spec.cram", checked.sources[checked.path])
    uses = {
        os.path.relpath(path, root.parent): text
        for path, text in checked.sources.items()
        if path != checked.path and not Path(path).is_relative_to(STD_DIR)
    }
    write_json(out / "spec_uses.json", uses)


def check_run_spec(
    run: Path, model: str | None = None, plugins: list[str] = (), limits: dict[str, int] | None = None
) -> CheckedModel:
    """The run's model, checked from the run's own copies (never from where the spec came from: a run
    directory shared with someone must not read their files, and an edited source must not matter)."""
    spec = run / "spec.cram"
    if not spec.is_file():
        raise TrainError(f"{run} holds no spec.cram: it is not a complete cramnet run directory")
    uses = read_json(run / "spec_uses.json") if (run / "spec_uses.json").exists() else {}
    if not isinstance(uses, dict) or not all(isinstance(v, str) for v in uses.values()):
        raise TrainError(f"{run / 'spec_uses.json'} should map file paths to spec texts")
    base = spec.resolve().parent
    files = {str((base / relative).resolve()): text for relative, text in uses.items()}
    return check_spec(spec, model, list(plugins), files=files, **(limits or {}))


MAX_JSON_BYTES = 64 << 20  # a run's JSON files (spec_uses.json holds the used specs, 1 MiB each at most)


def read_json(path: Path) -> object:
    """A run's JSON file, read with a bound: a shared run directory may hold anything."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            raise TrainError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB: not a cramnet run file")
        return json.loads(data.decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TrainError(f"{path} is not readable JSON") from None


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


def curve_panels(history: list[dict], main: str) -> list[str]:
    """The quantities curves.png draws, one panel each: loss, the watched metric when it is not the
    loss, then every other train_/val_ column of metrics.csv (mse, accuracy, aux_… terms)."""
    names = {key.split("_", 1)[1] for row in history for key in row if key.startswith(("train_", "val_"))}
    return ["loss"] + ([main] if main != "loss" and main in names else []) + sorted(names - {"loss", main})


def plot_curves(out: Path, history: list[dict], main: str) -> None:
    """curves.png: one panel per quantity in metrics.csv — the loss first, then the watched metric
    (unless it is the loss), the other metrics and each auxiliary term — train and validation lines,
    whole-number epoch ticks."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    panels = curve_panels(history, main)
    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, panels):
        for split in ("train", "val"):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=f"{split}")
        ax.set_xlabel("epoch")
        ax.set_title(metric.removeprefix("aux_") + (" (auxiliary)" if metric.startswith("aux_") else ""), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        values = [v for row in history for v in (row.get(f"train_{metric}"), row.get(f"val_{metric}")) if v is not None]
        if metric in ("loss", "perplexity", "mse") and values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=110)
    plt.close(figure)


def plot_grad_norms(out: Path, rows: list[dict]) -> None:
    """grad_norms.png: a heatmap of log10 gradient norm, one row per block (input side at the top,
    named by module path), one column per epoch — vanishing gradients show as rows that darken
    towards the input, exploding ones as a bright band."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    blocks = [k for k in rows[0] if k != "epoch"]
    epochs = [int(row["epoch"]) for row in rows]
    grid = [[math.log10(max(row.get(block) or 0.0, 1e-12)) for row in rows] for block in blocks]
    height = min(2.0 + 0.28 * len(blocks), 30)
    figure, ax = plt.subplots(figsize=(max(5.5, 2.5 + 0.35 * len(epochs)), height))
    image = ax.imshow(
        grid,
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        extent=(epochs[0] - 0.5, epochs[-1] + 0.5, len(blocks) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(blocks)), blocks, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_title("gradient norm per block (mean over each epoch's steps)", fontsize=10)
    bar = figure.colorbar(image, ax=ax, pad=0.02)
    bar.set_label("log10 gradient norm")
    figure.tight_layout()
    figure.savefig(out / "grad_norms.png", dpi=110)
    plt.close(figure)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
