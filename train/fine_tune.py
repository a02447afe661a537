"""Fine-tuning a published model: `init_from` loads its weights into the spec's module (a table
says what was loaded, new and unused) — or, sharded, into each process's slices as they are built —
`freeze` fixes nodes, and `optimizer.new_lr` gives the new parameters (a head the checkpoint lacks)
a learning rate of their own."""

from __future__ import annotations

import torch

from .config import get
from .data.alphabets import ALPHABETS
from .errors import TrainError


def start_from(module: torch.nn.Module, checked, config: dict, load: bool, console=None) -> list[str]:
    """Load `init_from` (only a plan when `load` is false: a resumed run has its own weights) and
    freeze `freeze`; the state-dict keys that are new."""
    from ..weights import load_weights, plan_weights

    new: list[str] = []
    if config.get("init_from"):
        if load:
            report = load_weights(module, checked, config["init_from"])
            if console is not None:
                console.print(report.table())
            new = report.new
        elif get(config, "optimizer.new_lr") is not None:  # only the split into groups is needed again
            new = plan_weights(checked, config["init_from"]).new
    _freeze(module, checked, config, console if load else None)
    return new


def published_tokenizer(config: dict) -> str | None:
    """The tokenizer saved with `init_from`'s published weights (a tokenizer.json, or a slow tokenizer's
    files in their directory), if they have one: data to fine-tune on is read with it unless
    data.options.tokenizer names another."""
    from ..weights.checkpoint import open_checkpoint

    if not config.get("init_from") or open_checkpoint(config["init_from"]).kind == "run":
        return None
    from ..weights.tokenizer import tokenizer_source

    source = tokenizer_source(config["init_from"])
    return str(source) if source is not None else None


def check_token_ids(config: dict, data) -> None:
    """Published weights index their embedding rows by their own tokenizer's ids: data that cramnet
    numbers itself (a text corpus, a FASTA file's letters, cell sentences of an .h5ad) would train
    them on other ids."""
    if data.tokenizer is not None and data.tokenizer.kind != "published":
        own_ids = f"its own {data.tokenizer.kind} tokenizer (ids 0 to {data.tokenizer.vocab - 1})"
    elif data.tokenizer is None and data.alphabet:
        own_ids = f"the letters of its {ALPHABETS[data.alphabet].name} alphabet"
    else:
        return
    from ..weights.checkpoint import open_checkpoint

    if not config.get("init_from") or open_checkpoint(config["init_from"]).kind == "run":  # numbered alike
        return
    if own := published_tokenizer(config):
        hint = f"leave data.options.tokenizer out to read the data with the checkpoint's own ({own})"
    else:
        hint = (
            "name the checkpoint's tokenizer: --set data.options.tokenizer=DIR/tokenizer.json (save it "
            "with AutoTokenizer.from_pretrained(NAME).save_pretrained(DIR))"
        )
    raise TrainError(
        f"{get(config, 'data.name')}: cramnet would turn this data into token ids with {own_ids}, but the "
        f"embedding rows of {config['init_from']} belong to the ids of its published tokenizer: fine-tuning "
        "would read every token as another",
        hint,
    )


def start_sharded(checked, config: dict, load: bool, console=None):
    """For a sharded build (`build_sharded(…, start=…)`): the function that freezes `freeze` and hands
    over `init_from`'s tensors (none when `load` is false: a resumed run has its own weights), which
    the build slices per process as they are read; and the state-dict keys that are new."""
    from ..weights import plan_weights, read_tensors, report_of

    plan = plan_weights(checked, config["init_from"]) if config.get("init_from") else None
    if plan is not None and load and console is not None:
        console.print(report_of(plan, config["init_from"]).table())

    def start(module: torch.nn.Module):
        _freeze(module, checked, config, console if load else None)
        return read_tensors(plan) if plan is not None and load else ()

    return start, plan.new if plan is not None else []


def _freeze(module: torch.nn.Module, checked, config: dict, console) -> None:
    from ..weights import freeze

    if config.get("freeze"):
        frozen = freeze(module, checked, config["freeze"])
        if console is not None:
            count = f"{len(frozen)} tensor{'s' if len(frozen) != 1 else ''}"
            console.print(f"frozen: {count} ({', '.join(config['freeze'])})", style="dim")


def parameter_groups(module: torch.nn.Module, new: list[str], config: dict):
    """All parameters, or two groups when `optimizer.new_lr` is set: loaded ones, then new ones."""
    parameters = list(module.parameters())
    if not any(p.requires_grad for p in parameters):  # the first step would fail in backward, run directory made
        if not parameters:
            raise TrainError("the model has no parameters: there is nothing to train", "give it a layer with weights")
        named = config.get("freeze")
        by = "`freeze = true` in the spec"
        if named:
            by = f"--freeze {', '.join(named)} and any {by}"
        raise TrainError(
            f"every parameter of the model is frozen ({by}): there is nothing to train",
            "freeze fewer nodes: leave at least the part to fine-tune (a new head) trainable",
        )
    new_lr = get(config, "optimizer.new_lr")
    if new_lr is None or not new:
        return module.parameters()
    from .sharding import strip_key

    fresh = set(new)
    named = [(strip_key(k), p) for k, p in module.named_parameters()]  # layer checkpointing's wrappers aside
    groups = [{"params": [p for k, p in named if k not in fresh]}, {"params": [p for k, p in named if k in fresh]}]
    groups[1]["new_lr"] = new_lr  # the schedule scales it as it scales optimizer.lr
    return [g for g in groups if g["params"]]
