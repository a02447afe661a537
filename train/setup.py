"""From a spec and a config to what a run needs: the checked model, the device, the data and the
task — choosing defaults from the model's inputs and outputs where the config leaves them open."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..compiler.api import CheckedModel, check_spec
from .config import get
from .data import BUILTIN, Dataset, default_data, load_data, takes_tokenizer
from .data.bio import BIO_TRAINING
from .data.dataset import numbered_as
from .errors import TrainError
from .fine_tune import published_tokenizer
from .tasks import Task, choose_task


@dataclass
class Setup:
    checked: CheckedModel
    config: dict
    data: Dataset
    task: Task
    device: torch.device
    notes: list[str] = field(default_factory=list)  # the defaults chosen, for the user to see

    @property
    def input_name(self) -> str:
        return self.checked.inputs[0]


# what a data set trains well with, where the config leaves epochs, batch size or learning rate open
DATA_DEFAULTS = {
    "digits": {"epochs": 12, "batch_size": 32, "lr": 3e-3},
    "breast_cancer": {"epochs": 30, "batch_size": 32, "lr": 1e-3},
    "karate": {"epochs": 100, "batch_size": 1, "lr": 1e-2},
    "graphs": {"epochs": 20, "batch_size": 32, "lr": 3e-3},
    "kan_toy": {"epochs": 60, "batch_size": 64, "lr": 1e-2},
    "adding": {"epochs": 20, "batch_size": 64, "lr": 1e-3},
    "selective_copy": {"epochs": 20, "batch_size": 64, "lr": 3e-3},
    "induction": {"epochs": 20, "batch_size": 64, "lr": 3e-3},
    "text": {"epochs": 10, "batch_size": 16, "lr": 2e-3},
    "shapes": {"epochs": 10, "batch_size": 16, "lr": 3e-3},
    "digit_pairs": {"epochs": 10, "batch_size": 64, "lr": 2e-3},
    **BIO_TRAINING,
}
FALLBACK = {"epochs": 20, "batch_size": 32, "lr": 1e-3}


def spec_limits(config: dict) -> dict[str, int]:
    """The limits a run's spec is checked under (`max_nodes`, `max_params`), as `check_spec` takes them."""
    return {"max_nodes": config["max_nodes"], "max_params": config["max_params"]}


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError(
            "device cuda was asked for but no CUDA GPU is available here",
            "use --device cpu (or auto, which uses a GPU when there is one)",
        )
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise TrainError("precision fp16 needs a CUDA GPU", "use --precision bf16 or fp32 on the CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainError("this GPU does not support bf16", "use --precision fp16 or fp32")


def vocabulary(checked: CheckedModel) -> int | None:
    """The smallest `embed` vocabulary reading the first input (token models), else None."""
    node = checked.inputs[0]
    found = [getattr(checked.graph.nodes[s].args, "vocab", None) for s in checked.graph.successors(node)]
    found = [v for v in found if isinstance(v, int)]
    return min(found) if found else None


def sequence_limit(checked: CheckedModel) -> int | None:
    """The longest sequence the first input takes where its length is a run-time size (a learned
    position table's, less a class token's place), else None: any length."""
    from ..blocks.dims import symbol_name
    from ..compiler.run_sizes import largest_size

    dims = checked.input_types[checked.inputs[0]].dims
    name = symbol_name(dims[0]) if len(dims) == 1 else None
    return largest_size(checked.model, name) if name else None


def guess_task(checked: CheckedModel) -> str:
    """reconstruction when the first output has the (only) input's shape; otherwise auto (the data's)."""
    inputs, outputs = checked.input_types, checked.output_types
    if len(inputs) == 1:
        (kind,) = inputs.values()
        first = next(iter(outputs.values()))
        if kind.kind == "float" and first.kind == "float" and tuple(first.dims) == tuple(kind.dims):
            return "reconstruction"
    return "auto"


def _probabilities(checked: CheckedModel, output: str, data) -> bool:
    """True when the data lie in [0, 1] and `output` comes out of a sigmoid (through reshapes), so
    that binary cross-entropy — the VAE paper's Bernoulli likelihood — fits."""
    inputs = getattr(data.train, "inputs", None)
    if not inputs or any(x.min() < 0 or x.max() > 1 for x in inputs.values()):
        return False
    graph = checked.graph
    node = checked.model.outputs[output]
    while graph.nodes[node].block != "sigmoid":
        spec = graph.nodes[node].spec
        if spec is None or spec.family != "shape" or len(graph.nodes[node].inputs) != 1:
            return False
        node = graph.nodes[node].inputs[0]
    return True


def _refuse_link_heads(checked: CheckedModel) -> None:
    """A model whose every output scores node pairs (`link`) fits no task train has: said so, rather
    than that its [pairs] output is not some data set's class scores."""
    heads = {name: checked.graph.nodes[node].block for name, node in checked.model.outputs.items()}
    if heads and all(block == "link" for block in heads.values()):
        raise TrainError(
            f"model '{checked.name}' scores node pairs (its output '{next(iter(heads))}' comes from `link`), "
            "and cramnet train has no link-prediction task",
            "train it from Python: compile_spec(SPEC) gives the module, which scores the graph's "
            "edge_label_index (docs/data.md lists the tasks train has)",
        )


def prepare(
    spec: Path | str,
    config: dict,
    model: str | None = None,
    plugins: list[str] = (),
    checked: CheckedModel | None = None,
    labels: list[str] | None = None,
    tokenizer=None,
    new_run: bool = False,
) -> Setup:
    """The run's data, task, device and filled-in config. `labels`, a trained run's class names, number
    the classes of other data as the run does, and its `tokenizer` reads other data as it read its own
    (evaluate, a resume). Only a `new_run` reads its data with init_from's published tokenizer where
    data.options.tokenizer names none: a run made before there was one read its data otherwise."""
    config = copy.deepcopy(config)
    checked = checked or check_spec(spec, model, list(plugins), **spec_limits(config))
    notes = []
    device = pick_device(config["device"])
    check_precision(config["precision"], device)
    _refuse_link_heads(checked)
    data_name = get(config, "data.name")
    if data_name is None:
        data_name = default_data(checked.input_types, checked.output_types)
        if data_name is None:
            shapes = ", ".join(f"{n}: {t}" for n, t in checked.input_types.items())
            outs = ", ".join(f"{n}: {t}" for n, t in checked.output_types.items())
            raise TrainError(
                f"no built-in data set fits model '{checked.name}' (inputs {shapes}; outputs {outs})",
                f"name one with --data ({', '.join(BUILTIN)}; for biology {', '.join(BIO_TRAINING)}) "
                "or give a data file",
            )
        notes.append(f"data: {data_name} (chosen from the model's inputs and outputs)")
        config["data"]["name"] = data_name
    task_name = config["task"]
    if task_name == "auto":
        task_name = guess_task(checked)
    if takes_tokenizer(data_name, checked.input_types):
        options = config["data"]["options"]
        if getattr(tokenizer, "kind", None) == "published":  # the run's copy: where it came from may be gone
            options["tokenizer"] = str(tokenizer.path)
        elif new_run and "tokenizer" not in options and (own := published_tokenizer(config)):
            options["tokenizer"] = own  # recorded in the config
            notes.append(f"tokenizer: {own} (the published weights' own; data.options.tokenizer names another)")
    fractions = (get(config, "data.val_fraction"), get(config, "data.test_fraction"))
    data = load_data(
        data_name,
        checked.input_types,
        task_name,
        config["seed"],
        fractions,
        get(config, "data.options"),
        vocabulary(checked),
        tokenizer,
        sequence_limit(checked),  # readers that choose a length stop at the spec's positions
    )
    if labels and data.labels and data.task == "classification":
        data = numbered_as(data, labels)
    elif data.labels and len(data.labels) == 1 and data.task == "classification":
        raise TrainError(
            f"{data.name}: every example has the label '{data.labels[0]}'; a classifier needs at least two classes",
            "check where the labels come from (data.options.label or labels): they must tell the examples apart",
        )
    task = choose_task(checked.output_types, checked.input_types, data, task_name, config["loss"])
    if config["loss"] == "auto" and task.name == "reconstruction" and _probabilities(checked, task.output, data):
        task.loss = "bce"  # summed squared error is too weak beside a VAE's KL: the latent collapses
        notes.append(f"loss: bce (the data and '{task.output}' lie in [0, 1]; --set loss=mse for squared error)")
    chosen = DATA_DEFAULTS.get(data.name, FALLBACK)
    opened = []
    for key, where in (("epochs", ("epochs",)), ("batch_size", ("batch_size",)), ("lr", ("optimizer", "lr"))):
        holder = config if len(where) == 1 else config[where[0]]
        if holder[where[-1]] is None:
            holder[where[-1]] = chosen[key]
            opened.append(f"{key.replace('_', ' ')} {chosen[key]:g}")
    if config["aux_weight"] is None:
        config["aux_weight"] = 1.0 if task.name == "reconstruction" else 0.01
    if opened:
        notes.append(f"{', '.join(opened)} (defaults for {data.name})")
    if config["task"] == "auto":
        notes.append(f"task: {task.name} on output '{task.output}' ({task.loss} loss, watching {task.main_metric})")
    return Setup(checked, config, data, task, device, notes)
