"""Using a finished run: `load_run` (the trained module with its config), evaluation on its data or
other data, predictions for a file, and sampling from a language model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..compiler.api import CheckedModel
from . import checkpoints as ckpt
from .config import read_config
from .data.files import input_arrays, read_arrays
from .data.text import tokenizer_from_json
from .errors import TrainError
from .run_dir import check_run_spec


@dataclass
class TrainedRun:
    """A run directory loaded back: the module (eval mode, trained weights), its config and facts."""

    module: torch.nn.Module
    config: dict
    checked: CheckedModel
    info: dict  # run.json: model, task, output, data, classes, tokenizer
    final: dict
    path: Path

    def after(self, node: str) -> torch.nn.Module:
        """The part of the model after `node` (a name as `cramnet summary` lists it, or a bound name):
        a module whose one argument is that node's value and which returns the model's outputs computed
        from it, with the trained weights — an autoencoder's decoder is `run.after("z")`."""
        from ..probe.partial import after_model, resolve_node

        return after_model(self.checked, resolve_node(self.checked, node), self.module.state_dict())

    @property
    def tokenizer(self):
        return tokenizer_from_json(self.info["tokenizer"]) if self.info.get("tokenizer") else None


def load_run(run: str | Path, weights: str = "model.safetensors") -> TrainedRun:
    """The trained module of a run directory, with its config; the weights file must belong to the spec."""
    run = Path(run)
    try:
        info = json.loads((run / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise TrainError(f"{run} is not a cramnet run directory (no readable run.json)") from None
    config = read_config(run / "config.yaml")
    checked = check_run_spec(run, info.get("model") if isinstance(info, dict) else None)
    path = run / weights
    if not path.exists():
        raise TrainError(f"{path} is missing: the run did not finish", f"resume it: cramnet train --resume {run}")
    tensors, _ = ckpt.load(path, ckpt.spec_hash(checked.source(standalone=False)), checked)
    module = checked.build(seed=0)
    ckpt.load_model(module, tensors, path)
    module.eval()
    final_path = run / "final.json"
    final = json.loads(final_path.read_text()) if final_path.exists() else {}
    return TrainedRun(module, config, checked, info, final, run)


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
    arrays = read_arrays(file)
    inputs = input_arrays(file, arrays, trained.checked.input_types)
    task = trained.info["task"]
    index = list(trained.checked.outputs).index(trained.info["output"])
    with torch.no_grad():
        outputs = trained.module(*[inputs[n] for n in trained.checked.inputs])
    pred = (outputs[index] if isinstance(outputs, tuple) else outputs).float()
    output = output or file.with_name(file.stem + ".predictions" + (".csv" if pred.dim() == 2 else ".npz"))
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


def generate(
    run: str | Path, prompt: str, tokens: int = 200, temperature: float = 0.8, top_k: int | None = 40, seed: int = 0
) -> str:
    """Sample a continuation of `prompt` from a language-model run (temperature, then top-k)."""
    trained = load_run(run)
    if trained.info["task"] != "language_model" or trained.tokenizer is None:
        raise TrainError(f"{run} is a {trained.info['task']} run; generate needs a language model")
    if temperature <= 0:
        raise TrainError("--temperature must be above 0")
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
