"""Using a finished run: `load_run` (the trained module with its config), `open_run` (a spec with
published weights standing in for one), evaluation on its data or other data (predictions for a
file are predictions.py; sampling from a language model is generation.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import torch

from ..compiler.api import CheckedModel
from . import checkpoints as ckpt
from .config import read_config
from .data.alphabets import ALPHABETS
from .data.text import tokenizer_from_json
from .errors import TrainError
from .run_dir import check_run_spec, read_json, unfinished_hint
from .setup import pick_device, spec_limits

PREDICT_BATCH = 256  # examples per forward pass: a whole file at once needed gigabytes


@dataclass
class TrainedRun:
    """A run directory loaded back: the module (eval mode, trained weights), its config and facts."""

    module: torch.nn.Module
    config: dict
    checked: CheckedModel
    info: dict  # run.json: model, task, output, data, classes, tokenizer
    final: dict
    path: Path
    device: torch.device = torch.device("cpu")  # where the module is: inputs go there, outputs come back

    def after(self, node: str) -> torch.nn.Module:
        """The part of the model after `node` (a name as `cramnet summary` lists it, or a bound name):
        a module whose one argument is that node's value and which returns the model's outputs computed
        from it, with the trained weights — an autoencoder's decoder is `run.after("z")`."""
        from ..compiler.parts import after_model, resolve_node

        return after_model(self.checked, resolve_node(self.checked, node), self.module.state_dict())

    @cached_property
    def tokenizer(self):
        return tokenizer_from_json(self.info["tokenizer"], self.path) if self.info.get("tokenizer") else None


def load_run(run: str | Path, weights: str = "model.safetensors", device: str = "cpu") -> TrainedRun:
    """The trained module of a run directory, with its config; the weights file must belong to the spec.
    `device` (auto, cpu or cuda) is where the module is moved once loaded."""
    run = Path(run)
    try:
        info = read_json(run / "run.json")
    except TrainError:
        raise TrainError(f"{run} is not a cramnet run directory (no readable run.json)") from None
    missing = [
        key for key in ("model", "task", "output") if not isinstance(info, dict) or not isinstance(info.get(key), str)
    ]
    if missing:
        raise TrainError(f"{run / 'run.json'} lacks {', '.join(missing)}: it is not a complete cramnet run")
    config = read_config(run / "config.yaml")
    alphabet = info.get("alphabet")
    if alphabet is not None and alphabet not in ALPHABETS:
        raise TrainError(
            f"{run / 'run.json'}: alphabet {alphabet!r} is not one cramnet writes ({', '.join(ALPHABETS)})",
            "the run directory was edited or damaged: train the run again",
        )
    options = config["data"].get("options") or {}
    if alphabet and options.get("alphabet", "auto") == "auto":  # guessed from the training data
        config["data"]["options"] = options | {"alphabet": alphabet}
    checked = check_run_spec(run, info.get("model"), limits=spec_limits(config))
    path = run / weights
    if not path.exists():
        raise TrainError(f"{path} is missing: the run did not finish", unfinished_hint(run))
    if config["memory_check"]:
        _check_memory(checked, run)
    tensors, _ = ckpt.load(path, ckpt.spec_hash(checked.source(standalone=False)), checked, config["memory_check"])
    module = checked.build(seed=0)
    ckpt.load_model(module, tensors, path)
    module.eval()
    final_path = run / "final.json"
    final = read_json(final_path) if final_path.exists() else {}
    place = pick_device(device)
    return TrainedRun(module.to(place), config, checked, info, final, run, place)


def open_run(run: str | Path, weights: str | Path | None = None, device: str = "cpu") -> TrainedRun:
    """A run directory, or — with `weights` (`--weights`) — a spec with published weights loaded
    (docs/weights.md), standing in for a run: default config, its first output, and the tokenizer
    saved with the weights, if any (text and sequences are read with it, as fine-tuning reads them)."""
    if weights is None:
        return load_run(run, device=device)
    from ..compiler.api import check_spec
    from ..weights import build_with_weights
    from ..weights.tokenizer import tokenizer_source
    from .config import defaults

    if Path(run).is_dir():
        raise TrainError(f"--weights loads into a spec, but {run} is a run directory (it has its own weights)")
    checked = check_spec(run)
    module, _ = build_with_weights(checked, weights)
    output = checked.outputs[0]
    # a guess from the first output's shape (predict writes classes and probabilities for classifiers):
    # [classes] per example, or per graph; [nodes, classes] per node of a graph
    graph = any(t.kind == "graph" for t in checked.input_types.values())
    rank = len(checked.output_types[output].dims)
    task = "graph_classification" if graph and rank == 1 else "node_classification" if graph and rank == 2 else None
    task = task or ("classification" if rank == 1 else "auto")
    source = tokenizer_source(weights)
    tokenizer = {"kind": "published", "file": str(source.resolve())} if source is not None else None
    info = {"model": checked.name, "task": task, "output": output, "tokenizer": tokenizer}
    place = pick_device(device)
    return TrainedRun(module.eval().to(place), defaults(), checked, info, {}, Path(run), place)


def _check_memory(checked: CheckedModel, run: Path) -> None:
    """A run trained on a larger machine is refused with the numbers, before its weights are read:
    the checkpoint's tensors and the module's, and a batch of activations (no gradients)."""
    from ..compiler.memory import check_fits, estimate

    need = estimate(checked, None, PREDICT_BATCH)
    need = replace(need, gradients=0, copies=0, checkpoint=need.weights)  # no backward: no gradients, no copies
    check_fits(need, torch.device("cpu"), checked.name, "load", f"memory_check: false in {run / 'config.yaml'}")


def evaluate_run(
    run: str | Path,
    data: str | None = None,
    split: str = "test",
    weights: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """The run's task metrics on its own data's test split, or on other data (all of a file's examples
    are split the same way; `split` picks the part), computed on `device`."""
    from .engine import Engine, evaluate_split
    from .setup import prepare

    trained = open_run(run, weights, device)
    config = trained.config
    if data is not None:
        config = {**config, "data": {**config["data"], "name": data}}
    task = trained.info["task"] if weights is None else "auto"  # a spec has no task of its own: the data's
    config = {**config, "device": device, "precision": "fp32", "compile": False, "task": task}
    if data is not None and task != "reconstruction":
        _refuse_unlabelled(data, trained, run)
    setup = prepare(
        None, config, checked=trained.checked, labels=trained.info.get("labels"), tokenizer=trained.tokenizer
    )
    engine = Engine(setup, trained.module, trained.module, None)
    return {f"{split}_{k}": v for k, v in evaluate_split(engine, setup.data.splits[split], 256).items()}


def _refuse_unlabelled(data: str, trained, run: str | Path) -> None:
    """Metrics compare predictions with targets: a file of inputs alone is told so, and where it serves."""
    from .data import unlabelled_splits

    if unlabelled_splits(data, trained.checked.input_types, 0, (None, None)) is None:
        return
    raise TrainError(
        f"{data}: no targets (an array named 'y', or a csv column y, label or target); evaluate scores the "
        "run's predictions against them",
        f"add each example's class or value as y; for predictions alone: cramnet predict {run} {data}",
    )
