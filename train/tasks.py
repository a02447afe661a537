"""Tasks: which model output is trained against which target, with what loss and metrics.

| task | output | loss | metrics |
| --- | --- | --- | --- |
| classification, graph_classification | `[C]` class scores | cross-entropy | accuracy |
| node_classification | `graph[nodes, C]` per-node scores | cross-entropy on the split's nodes | accuracy |
| token_classification | `[seq, V]` scores, targets -100 where nothing is asked | cross-entropy | accuracy |
| segmentation | `[C, H, W]` scores per pixel, targets `[H, W]` class ids | cross-entropy | accuracy, iou, dice |
| language_model | `[seq, V]` next-token scores | cross-entropy | perplexity, accuracy |
| regression | the target's shape | mean squared error | mse |
| reconstruction | the input's shape | squared error (or `bce`) summed per example | mse |

Classification also reports macro-F1 (more than two classes) or AUROC and AUPRC (two). The tasks of
the biological specs, next_event and contact_map, are in bio_tasks.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..blocks.tensor_type import TensorType
from . import metrics
from .bio_tasks import BIO_TASKS, contact_map, next_event, task_metrics
from .data.dataset import Dataset
from .data.splits import Batch
from .errors import TrainError

CLASSIFYING = (
    "segmentation",
    "classification",
    "graph_classification",
    "node_classification",
    "token_classification",
    "language_model",
)
# metrics where more is better (early stopping, the best checkpoint, a sweep's direction)
HIGHER_IS_BETTER = ("accuracy", "macro_f1", "auroc", "auprc", "top_l_precision", "bin_accuracy", "iou", "dice")


@dataclass
class Task:
    name: str
    output: str
    index: int  # position of `output` among the model's outputs
    loss: str  # cross_entropy, mse or bce
    classes: int | None = None
    times: str | None = None  # next_event: the input holding each event's age

    @property
    def main_metric(self) -> str:
        return {
            "language_model": "perplexity",
            "regression": "mse",
            "reconstruction": "loss",
            "next_event": "auroc",
            "contact_map": "top_l_precision",
            "segmentation": "iou",
        }.get(self.name, "accuracy")

    @property
    def higher_is_better(self) -> bool:
        return self.main_metric in HIGHER_IS_BETTER

    def prediction(self, outputs) -> torch.Tensor:
        return outputs[self.index] if isinstance(outputs, tuple) else outputs

    def loss_and_counts(self, outputs, batch: Batch, input_name: str) -> tuple[torch.Tensor, dict[str, float]]:
        """The mean loss of a batch, and sums that `metrics` turns into epoch metrics."""
        pred = self.prediction(outputs).float()
        target = batch.target
        if self.name in BIO_TASKS:
            return (next_event if self.name == "next_event" else contact_map)(self, pred, batch)
        if self.name == "segmentation":
            pred = pred.movedim(1, -1)  # (B, C, H, W) -> (B, H, W, C): the class scores last
        if self.name in CLASSIFYING:
            if batch.mask is not None:
                pred, target = pred[batch.mask], target[batch.mask]
            pred = pred.reshape(-1, pred.shape[-1])
            target = target.reshape(-1)
            counted = target != -100
            loss = F.cross_entropy(pred, target, ignore_index=-100)
            n = int(counted.sum())
            chosen = pred.argmax(-1)
            counts = {"loss": float(loss.detach()) * n, "n": n, "correct": int((chosen == target)[counted].sum())}
            if self.name in ("classification", "graph_classification") and self.classes:
                counts |= self._class_counts(pred.detach(), target)
            if self.name == "segmentation":
                counts.update(overlap_counts(chosen, target, pred.shape[-1]))
            return loss, counts
        if self.name == "reconstruction":
            target = batch.inputs[input_name] if target is None else target
            per_element = (
                F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target, reduction="none")
                if self.loss == "bce"
                else (pred - target).square()
            )
            loss = per_element.reshape(len(pred), -1).sum(1).mean()
            n = len(pred)
            squared = float((pred - target).detach().square().mean()) * n
            return loss, {"loss": float(loss.detach()) * n, "n": n, "squared": squared}
        loss = F.mse_loss(pred, target)
        n = len(pred)
        return loss, {"loss": float(loss.detach()) * n, "n": n, "squared": float(loss.detach()) * n}

    def _class_counts(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Two classes: histograms of the second class's probability (AUROC, AUPRC); more: a confusion matrix."""
        if self.classes == 2 and pred.shape[-1] == 2:
            return metrics.score_counts(pred.softmax(-1)[:, 1], target == 1)
        return metrics.confusion_counts(pred, target, self.classes)

    def loss_text(self, aux_terms: list[tuple[str, str]], aux_weight: float) -> str:
        """What the optimiser minimises, in words: `loss = bce summed over each example's 64 values,
        mean over the batch + 1 × KL of 'z' (GaussianLatent)`."""
        if self.name in CLASSIFYING:
            per = (
                "position"
                if self.name in ("token_classification", "language_model")
                else ("node" if self.name == "node_classification" else "example")
            )
            task = f"cross-entropy, mean over {per}s"
        elif self.name == "reconstruction":
            what = "binary cross-entropy" if self.loss == "bce" else "squared error"
            task = f"{what} summed over each example's values, mean over the batch"
        else:
            task = "mean squared error"
        terms = [f"{aux_weight:g} × {kind} of '{path}'" for path, kind in aux_terms]
        return " + ".join([f"loss = {task}", *terms]) + (" (aux_weight, the `aux_weight` config key)" if terms else "")

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        if self.name in BIO_TASKS:
            return task_metrics(self, sums) | _aux(sums)
        n = max(sums.get("n", 0), 1)
        result = {"loss": sums["loss"] / n}
        if "correct" in sums:
            result["accuracy"] = sums["correct"] / n
        if self.classes and self.classes > 2 and any(k.startswith("confusion_") for k in sums):
            result["macro_f1"] = metrics.macro_f1(metrics.confusion_matrix(sums, self.classes))
        areas = metrics.auroc_auprc(sums) if self.classes == 2 else None
        if areas is not None:
            result["auroc"], result["auprc"] = areas
        if self.name == "language_model":
            result["perplexity"] = math.exp(min(result["loss"], 50.0))
        if self.name == "segmentation":
            result.update(overlap_metrics(sums))
        if "squared" in sums:
            result["mse"] = sums["squared"] / n
        return result | _aux(sums)


def _aux(sums: dict[str, float]) -> dict[str, float]:
    return {k: v / max(sums.get("batches", 1), 1) for k, v in sums.items() if k.startswith("aux_")}


def overlap_counts(chosen: torch.Tensor, target: torch.Tensor, classes: int) -> dict[str, float]:
    """Per class: pixels predicted and pixels of the target in it, and their overlap (summed over
    an epoch before dividing, so IoU and Dice weigh every pixel alike)."""
    counts = {}
    for c in range(classes):
        predicted, actual = chosen == c, target == c
        counts[f"seg_both_{c}"] = int((predicted & actual).sum())
        counts[f"seg_pred_{c}"] = int(predicted.sum())
        counts[f"seg_true_{c}"] = int(actual.sum())
    return counts


def overlap_metrics(sums: dict[str, float]) -> dict[str, float]:
    """Mean IoU (intersection over union) and mean Dice over the classes present in targets or
    predictions (Jaccard 1901; Dice 1945)."""
    ious, dices = [], []
    for key in sorted(k for k in sums if k.startswith("seg_both_")):
        c = key.removeprefix("seg_both_")
        both, predicted, actual = sums[key], sums[f"seg_pred_{c}"], sums[f"seg_true_{c}"]
        if predicted + actual > 0:
            ious.append(both / (predicted + actual - both))
            dices.append(2 * both / (predicted + actual))
    return {"iou": sum(ious) / max(len(ious), 1), "dice": sum(dices) / max(len(dices), 1)}


def choose_task(
    outputs: dict[str, TensorType], inputs: dict[str, TensorType], dataset: Dataset, task: str, loss: str
) -> Task:
    """The task of `dataset` (or the one the config names), on the first model output that fits it."""
    name = dataset.task if task == "auto" else task
    if task != "auto" and task != dataset.task and not (task == "reconstruction" and dataset.task == "classification"):
        raise TrainError(
            f"task '{task}' does not fit data '{dataset.name}', which is for {dataset.task}",
            f"set task: auto (or task: {dataset.task})",
        )
    wanted = {"mse": "mse", "auto": None}.get(loss, loss)
    if name in CLASSIFYING + BIO_TASKS:
        if wanted not in (None, "cross_entropy"):
            raise TrainError(f"loss '{loss}' does not fit {name}", "use loss: cross_entropy (or auto)")
        chosen_loss = "competing_exponentials" if name == "next_event" else "cross_entropy"
    else:
        if wanted == "cross_entropy":
            raise TrainError(f"loss 'cross_entropy' does not fit {name}", "use loss: mse (or auto)")
        chosen_loss = wanted or "mse"
    reasons = []
    for index, (out, kind) in enumerate(outputs.items()):
        problem = _misfit(name, kind, dataset, inputs)
        if problem is None:
            times = next((n for n, t in inputs.items() if t.kind == "float"), None) if name == "next_event" else None
            return Task(name, out, index, chosen_loss, dataset.classes, times)
        reasons.append(f"'{out}' {problem}")
    raise TrainError(
        f"no output of the model fits {name} on '{dataset.name}': " + "; ".join(reasons), _fit_hint(name, dataset)
    )


def _misfit(task: str, kind: TensorType, dataset: Dataset, inputs: dict[str, TensorType]) -> str | None:
    dims = list(kind.dims)
    if task == "segmentation":
        want = [dataset.classes, *dataset.train.target.shape[1:]]
        return None if dims == want else f"is {dims}, not {want} class scores per pixel"
    if task in ("classification", "graph_classification"):
        if kind.kind == "graph":
            return "is per node, not per example"
        return None if dims == [dataset.classes] else f"is {dims}, not [{dataset.classes}] class scores"
    if task == "node_classification":
        if kind.kind != "graph":
            return "is not per node (a graph[nodes, classes] output)"
        return None if dims[-1] == dataset.classes else f"has {dims[-1]} scores per node, not {dataset.classes}"
    if task in ("token_classification", "language_model"):
        if len(dims) != 2:
            return f"is {dims}, not [seq, vocab] scores per position"
        return (
            None
            if not isinstance(dims[-1], int) or dims[-1] >= dataset.classes
            else f"scores {dims[-1]} tokens; the data uses {dataset.classes}"
        )
    if task == "next_event":
        if len(dims) != 2 or not isinstance(dims[-1], int) or dims[-1] < dataset.classes:
            return f"is {dims}, not [visits, codes] log-rates for at least {dataset.classes} codes"
        return None
    if task == "contact_map":
        if len(dims) != 3 or dims[0] != dims[1] or not isinstance(dims[-1], int) or dims[-1] < 3:
            return f"is {dims}, not [residues, residues, bins] distance-bin scores"
        return None
    if task == "reconstruction":
        (source,) = inputs.values() if len(inputs) == 1 else (None,)
        return None if source is not None and dims == list(source.dims) else "does not have the input's shape"
    want = list(dataset.train.target.shape[1:])
    return None if dims == want else f"is {dims}, not the target's {want}"


def _fit_hint(task: str, dataset: Dataset) -> str | None:
    if task in ("classification", "graph_classification"):
        return f"end the model in `dense({dataset.classes})` for the {dataset.classes} classes"
    if task == "segmentation":
        return f"end the model in `conv2d({dataset.classes}, 1)`: one score per class at every pixel"
    if task == "node_classification":
        return f"end the graph branch in a layer with {dataset.classes} outputs per node"
    if task in ("token_classification", "language_model"):
        return f"end the model in `dense({dataset.classes})`: a score per token of the vocabulary at each position"
    if task == "reconstruction":
        return "end the model in the input's shape (a `reshape` after the last `dense`)"
    if task != "regression":
        return None  # the biological tasks: the message says the shape they need
    want = list(dataset.train.target.shape[1:])
    if len(want) == 1:
        return f"end the model in `dense({want[0]})`: one value per target (class ids as integers would be classes)"
    return f"end the model in the target's shape {want}"
