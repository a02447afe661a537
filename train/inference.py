"""Using a finished run: `load_run` (the trained module with its config), evaluation on its data or
other data, predictions for a file, and sampling from a language model."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..compiler.api import CheckedModel
from . import checkpoints as ckpt
from .config import read_config
from .data.files import input_arrays, read_arrays
from .data.text import tokenizer_from_json
from .errors import TrainError
from .run_dir import check_run_spec, read_json
from .setup import spec_limits


@dataclass
class TrainedRun:
    """A run directory loaded back: the module (eval mode, trained weights), its config and facts."""

    module: torch.nn.Module
    config: dict
    checked: CheckedModel
    info: dict  # run.json: model, task, output, data, classes, tokenizer
    final: dict
    path: Path

    @property
    def tokenizer(self):
        return tokenizer_from_json(self.info["tokenizer"]) if self.info.get("tokenizer") else None


def load_run(run: str | Path, weights: str = "model.safetensors") -> TrainedRun:
    """The trained module of a run directory, with its config; the weights file must belong to the spec."""
    run = Path(run)
    try:
        info = read_json(run / "run.json")
    except TrainError:
        raise TrainError(f"{run} is not a cramnet run directory (no readable run.json)") from None
    missing = [key for key in ("model", "task", "output") if not isinstance(info, dict) or not isinstance(
        info.get(key), str)]
    if missing:
        raise TrainError(f"{run / 'run.json'} lacks {', '.join(missing)}: it is not a complete cramnet run")
    config = read_config(run / "config.yaml")
    checked = check_run_spec(run, info.get("model"), limits=spec_limits(config))
    path = run / weights
    if not path.exists():
        raise TrainError(f"{path} is missing: the run did not finish", f"resume it: cramnet train --resume {run}")
    if config["memory_check"]:
        _check_memory(checked, run)
    tensors, _ = ckpt.load(path, ckpt.spec_hash(checked.source(standalone=False)), checked)
    module = checked.build(seed=0)
    ckpt.load_model(module, tensors, path)
    module.eval()
    final_path = run / "final.json"
    final = read_json(final_path) if final_path.exists() else {}
    return TrainedRun(module, config, checked, info, final, run)


def _check_memory(checked: CheckedModel, run: Path) -> None:
    """A run trained on a larger machine is refused with the numbers, before its weights are read:
    the checkpoint's tensors and the module's, and a batch of activations (no gradients)."""
    from ..compiler.memory import check_fits, estimate

    need = estimate(checked, None, PREDICT_BATCH)
    need = replace(need, gradients=0, checkpoint=need.weights)
    check_fits(need, torch.device("cpu"), checked.name, "load", f"memory_check: false in {run / 'config.yaml'}")


def evaluate_run(run: str | Path, data: str | None = None, split: str = "test") -> dict[str, float]:
    """The run's task metrics on its own data's test split, or on other data (all of a file's examples
    are split the same way; `split` picks the part)."""
    from .loop import Engine, evaluate_split
    from .setup import prepare

    trained = load_run(run)
    config = trained.config
    if data is not None:
        config = {**config, "data": {**config["data"], "name": data}}
    config = {**config, "device": "cpu", "precision": "fp32", "compile": False, "task": trained.info["task"]}
    setup = prepare(None, config, checked=trained.checked)
    engine = Engine(setup, trained.module, trained.module, None)
    return {f"{split}_{k}": v for k, v in evaluate_split(engine, setup.data.splits[split], 256).items()}


def predict_file(run: str | Path, file: Path, output: Path | None = None) -> Path:
    """Predictions for every example of `file` (an .npz, .safetensors or .csv holding the inputs, as
    for training); written as .csv (classes and probabilities, or values) or .npz (raw outputs)."""
    trained = load_run(run)
    arrays = read_arrays(file, targets=False)
    inputs = input_arrays(file, arrays, trained.checked.input_types)
    task = trained.info["task"]
    pred = _predict_in_batches(trained, inputs, file)
    output = output or file.with_name(file.stem + ".predictions" + (".csv" if pred.dim() == 2 else ".npz"))
    if not output.parent.is_dir():
        raise TrainError(f"cannot write {output}: the directory {output.parent} does not exist")
    try:
        return _write_predictions(output, pred, task)
    except OSError as error:
        raise TrainError(f"cannot write {output}: {error.strerror or error}") from None


def _write_predictions(output: Path, pred: torch.Tensor, task: str) -> Path:
    if output.suffix == ".npz":
        np.savez(output, prediction=pred.numpy())
        return output
    if pred.dim() != 2:
        raise TrainError(
            f"predictions of shape {list(pred.shape[1:])} per example do not fit a .csv",
            "write them to an .npz file (-o predictions.npz)",
        )
    lines = []
    if task in ("classification", "graph_classification"):
        probabilities = pred.softmax(-1)
        lines.append(",".join(["class"] + [f"p{c}" for c in range(pred.shape[1])]))
        for label, row in zip(pred.argmax(-1).tolist(), probabilities.tolist()):
            lines.append(",".join([str(label)] + [f"{p:.6g}" for p in row]))
    else:
        lines.append(",".join(f"y{i}" for i in range(pred.shape[1])))
        lines += [",".join(f"{v:.6g}" for v in row) for row in pred.tolist()]
    output.write_text("\n".join(lines) + "\n")
    return output


PREDICT_BATCH = 256  # examples per forward pass: a whole file at once needed gigabytes


def _predict_in_batches(trained: TrainedRun, inputs: dict[str, torch.Tensor], file: Path) -> torch.Tensor:
    """The watched output for every example, computed a batch at a time."""
    count = len(next(iter(inputs.values())))
    if count == 0:
        raise TrainError(f"{file} holds no examples")
    index = list(trained.checked.outputs).index(trained.info["output"])
    names = trained.checked.inputs
    parts = []
    with torch.no_grad():
        for start in range(0, count, PREDICT_BATCH):
            outputs = trained.module(*[inputs[n][start : start + PREDICT_BATCH] for n in names])
            parts.append((outputs[index] if isinstance(outputs, tuple) else outputs).float())
    return torch.cat(parts)


def generate(
    run: str | Path, prompt: str, tokens: int = 200, temperature: float = 0.8, top_k: int | None = 40, seed: int = 0
) -> str:
    """Sample a continuation of `prompt` from a language-model run (temperature, then top-k)."""
    if not (math.isfinite(temperature) and temperature > 0):  # nan compares false with everything
        raise TrainError(f"--temperature must be a number above 0, not {temperature}", "try --temperature 0.8")
    trained = load_run(run)
    if trained.info["task"] != "language_model" or trained.tokenizer is None:
        raise TrainError(f"{run} is a {trained.info['task']} run; generate needs a language model")
    tokenizer = trained.tokenizer
    ids = tokenizer.encode(prompt)
    if not ids:
        raise TrainError("the prompt has no characters the model's tokenizer knows")
    length = trained.config["data"]["options"].get("length", 64)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(tokens):
            context = torch.tensor([ids[-length:]])
            outputs = trained.module(context)
            logits = (outputs[0] if isinstance(outputs, tuple) else outputs)[0, -1].float() / temperature
            logits = logits[: tokenizer.vocab]
            if top_k:
                kth = torch.topk(logits, min(top_k, len(logits))).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            ids.append(int(torch.multinomial(logits.softmax(-1), 1, generator=generator)))
    return tokenizer.decode(ids)
