"""What one training step needs (`Engine`: the module, how it is called, the world of processes),
the optimizer and its schedule, evaluation over a split, and the parameter groups whose gradient
norms the run records."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from . import checkpoints as ckpt
from . import sharding
from .config import get
from .data.splits import Batch
from .distributed import World
from .setup import Setup


@dataclass
class Engine:
    """The pieces one step needs."""

    setup: Setup
    inner: torch.nn.Module  # the compiled spec's module (for aux losses, checkpoints)
    runner: torch.nn.Module  # what is called: the module, under DDP and/or torch.compile
    world: World

    @property
    def sharded(self) -> bool:
        return get(self.setup.config, "distributed.strategy") == "fsdp"

    def model_tensors(self) -> dict[str, torch.Tensor]:
        """The whole model's weights for a safetensors file (under FSDP: gathered, every process calls)."""
        if self.sharded:
            return {f"model.{k}": v for k, v in sharding.full_state(self.inner).items()}
        return ckpt.model_tensors(self.inner)

    def autocast(self):
        precision = self.setup.config["precision"]
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.setup.device.type, dtype=dtype)

    def forward(self, batch: Batch):
        names = self.setup.checked.inputs
        masks = {f"{n}_mask": batch.inputs[f"{n}_mask"] for n in names if f"{n}_mask" in batch.inputs}  # padding
        with self.autocast():
            outputs = self.runner(*[batch.inputs[n] for n in names], **masks)
            loss, counts = self.setup.task.loss_and_counts(outputs, batch, self.setup.input_name)
        # keyed by module path, without the level `checkpoint_layers` adds
        aux = {sharding.strip_key(k): v.float() for k, v in self.inner.aux_losses().items()}
        return loss, counts, aux


def evaluate_split(engine: Engine, split, batch_size: int) -> dict[str, float]:
    """The task's metrics over a whole split, in eval mode (every process computes all of it)."""
    engine.runner.eval()
    sums: dict[str, float] = {}
    pin = engine.setup.device.type == "cuda"
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            batch = split.batch(torch.arange(start, min(start + batch_size, len(split)))).to(engine.setup.device, pin)
            _, counts, aux = engine.forward(batch)
            add_counts(sums, counts)
            add_counts(sums, {f"aux_{k}": float(v.detach()) for k, v in aux.items()} | {"batches": 1})
    return engine.setup.task.metrics(sums)


def add_counts(sums: dict, counts: dict) -> None:
    for key, value in counts.items():
        sums[key] = sums.get(key, 0.0) + value


def make_optimizer(params, config: dict) -> torch.optim.Optimizer:
    name, lr, decay = get(config, "optimizer.name"), get(config, "optimizer.lr"), get(config, "optimizer.weight_decay")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=get(config, "optimizer.momentum"), weight_decay=decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay)


def lr_factor(config: dict, step: int, total: int, steps_per_epoch: int) -> float:
    warmup = get(config, "schedule.warmup_epochs") * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    if get(config, "schedule.name") == "constant":
        return 1.0
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def aux_terms(module: torch.nn.Module) -> list[tuple[str, str]]:
    """(module path, what it adds) for each module that contributes an auxiliary loss."""
    found = []
    for name, sub in module.named_modules():
        if hasattr(sub, "aux_loss"):
            doc = (type(sub).__doc__ or type(sub).__name__).strip().split("\n")[0]
            found.append((name, AUX_KINDS.get(type(sub).__name__, doc)))
    return found


# How the loss composition names the auxiliary losses of cramnet's own modules.
AUX_KINDS = {"GaussianLatent": "KL(q(z|x) ‖ N(0, I))", "MixtureOfExperts": "load-balancing loss"}


def block_groups(module: torch.nn.Module) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """Parameters by user-level block — each top-level stage, each copy of a repeat — in the module's order,
    named by module path (`pre_ln.3`)."""
    groups = []
    for name, child in module.named_children():
        parts = child.named_children() if isinstance(child, torch.nn.ModuleList) else [("", child)]
        for index, part in parts:
            params = [p for p in part.parameters() if p.requires_grad]
            if params:
                groups.append((f"{name}.{index}" if index else name, params))
    return groups


def seed_of(config: dict, epoch: int) -> int:
    return config["seed"] * 100_003 + epoch


def sum_over_world(sums: dict, device: torch.device) -> dict:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return sums
    keys = sorted(sums)
    values = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: float(v) for k, v in zip(keys, values)} | {"batches": sums.get("batches", 1)}
