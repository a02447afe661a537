"""Fine-tuning a published model: `init_from` loads its weights into the spec's module (a table
says what was loaded, new and unused), `freeze` fixes nodes, and `optimizer.new_lr` gives the new
parameters (a head the checkpoint lacks) a learning rate of their own."""

from __future__ import annotations

import torch

from .config import get


def start_from(module: torch.nn.Module, checked, config: dict, load: bool, console=None) -> list[str]:
    """Load `init_from` (only a plan when `load` is false: a resumed run has its own weights) and
    freeze `freeze`; the state-dict keys that are new."""
    from ..weights import freeze, load_weights, plan_weights

    new: list[str] = []
    if config.get("init_from"):
        if load:
            report = load_weights(module, checked, config["init_from"])
            if console is not None:
                console.print(report.table())
            new = report.new
        elif get(config, "optimizer.new_lr") is not None:  # only the split into groups is needed again
            new = plan_weights(checked, config["init_from"]).new
    if config.get("freeze"):
        frozen = freeze(module, checked, config["freeze"])
        if console is not None and load:
            count = f"{len(frozen)} tensor{'s' if len(frozen) != 1 else ''}"
            console.print(f"frozen: {count} ({', '.join(config['freeze'])})", style="dim")
    return new


def parameter_groups(module: torch.nn.Module, new: list[str], config: dict):
    """All parameters, or two groups when `optimizer.new_lr` is set: loaded ones, then new ones."""
    new_lr = get(config, "optimizer.new_lr")
    if new_lr is None or not new:
        return module.parameters()
    fresh = set(new)
    named = list(module.named_parameters())
    groups = [{"params": [p for k, p in named if k not in fresh]}, {"params": [p for k, p in named if k in fresh]}]
    groups[1]["new_lr"] = new_lr  # the schedule scales it as it scales optimizer.lr
    return [g for g in groups if g["params"]]
