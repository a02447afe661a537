"""Will it fit? The memory a model needs to build, step or train, from the summary's exact counts,
against what the machine (or the GPU) has free — checked before a single weight is allocated, so a
model larger than memory is refused with the numbers instead of meeting the allocator or the OOM
killer halfway through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..blocks.dims import evaluate, symbols
from ..blocks.moe import routing
from ..errors import DeviceUnavailable
from .api import CheckedModel
from .summary import BYTES_PER_VALUE

DEFAULT_SIZE = 16  # run-time sizes not given (as compile's trial run uses)
MEMINFO = Path("/proc/meminfo")


@dataclass
class MemoryNeed:
    """Bytes a step needs, by kind."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    copies: int = 0  # stacked copies of weights kept for the backward pass (stacked_values)
    checkpoint: int = 0  # a checkpoint's tensors, held while they are copied into the module

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.copies + self.checkpoint

    def parts(self) -> str:
        named = [
            ("weights", self.weights),
            ("gradients", self.gradients),
            ("optimizer state", self.optimizer),
            ("activations", self.activations),
            ("weight copies", self.copies),
            ("checkpoint", self.checkpoint),
        ]
        return ", ".join(f"{name} {size_text(size)}" for name, size in named if size)


def estimate(
    checked: CheckedModel, sizes: Mapping[str, int] | None, batch: int, optimizer_slots: int = 0
) -> MemoryNeed:
    """fp32 weights and gradients, `optimizer_slots` tensors per trained weight (AdamW keeps 2), every node's
    output for the backward pass at `batch` (sizes not given taken as DEFAULT_SIZE), and the stacked
    copies of weights the backward pass keeps."""
    summary = checked.summary(sizes, batch)
    weights = summary.params * BYTES_PER_VALUE
    trained = summary.memory["gradients"]  # the weights `freeze = true` leaves out have no gradients or optimizer state
    activations = summary.memory["activations"]
    unknown = symbols(activations)
    activations = evaluate(activations, {name: DEFAULT_SIZE for name in unknown}) if unknown else activations
    copies = stacked_values(checked) * BYTES_PER_VALUE
    return MemoryNeed(weights, trained, optimizer_slots * trained, int(activations), copies)


def stacked_values(checked: CheckedModel) -> int:
    """Values the forward pass stacks into copies kept for backward (all of `stacked_by_node`)."""
    return sum(stacked_by_node(checked).values())


def stacked_by_node(checked: CheckedModel) -> dict[str, int]:
    """Per node that stacks weights into a copy kept for backward, the copy's values: each
    self-attention's q, k and v weights and biases, and the experts of each token-routed mixture of
    copies of one body."""
    values = {}
    for node, attrs in checked.graph.nodes.items():
        a = attrs.args
        if attrs.block == "attention":
            d = attrs.type.dims[-1]
            kv = (a.kv_heads if a.kv_heads is not None else a.heads) * (d // a.heads)
            values[node] = d * d + 2 * d * kv + (d + 2 * kv if a.bias else 0)
        elif attrs.block == "moe" and len(set(a.bodies.copies)) == 1:
            inputs = [checked.graph.nodes[i].type for i in attrs.inputs]
            if routing(inputs, a) == "token":  # the router's weight aside
                values[node] = attrs.params - inputs[0].dims[-1] * len(a.bodies.copies)
    return values


def available(device: torch.device) -> int | None:
    """Free bytes on `device`: the GPU's free memory, or the kernel's MemAvailable; None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(need: MemoryNeed, device: torch.device, model: str, doing: str, override: str) -> None:
    """Raise DeviceUnavailable when `need` is more than `device` has free."""
    free = available(device)
    if free is None or need.total <= free:
        return
    raise DeviceUnavailable(
        f"model '{model}' needs about {size_text(need.total)} to {doing} on {device} ({need.parts()}), "
        f"but {size_text(free)} is free",
        f"shrink the model or the batch, or use a device with more memory; {override} tries all the same",
    )


def beyond_free_memory(size: int) -> str | None:
    """ "more than the 21.7 GiB of free memory" when `size` bytes would not fit in the machine's free
    memory, else None: for refusing a file before it is read."""
    free = available(torch.device("cpu"))
    return f"more than the {size_text(free)} of free memory" if free is not None and size > free else None


def size_text(size: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
