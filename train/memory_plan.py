"""How much memory one device needs to train a spec — from the checked graph's analytic counts, with no
weight allocated — for plain (DDP) and sharded (FSDP) training.

Per device, in bytes, for P parameters over N processes (b: 2 for bf16/fp16 compute, 4 for fp32):

    parameters   fp32 weights: 4P (DDP) or the shard 4P/N (FSDP)
    gathered     FSDP only: the layers whose whole weights and gradients exist at once in compute
                 precision — the root's own and two repeated layers (the running one and the next,
                 prefetched): 2b × (root + 2 × largest layer)
    gradients    fp32: 4P (DDP) or 4P/N (FSDP)
    optimizer    AdamW/Adam 8 bytes a parameter (two moments), SGD with momentum 4; / N under FSDP
    weight copies  copies of weights the forward pass keeps for the backward pass. Without FSDP: in
                 bf16/fp16 autocast's casts, 2P at most; in fp32 the stacked copies — each
                 self-attention's q, k and v, each mixture's experts (blocks/moe_dispatch.py) — 4 bytes
                 a value, and with `checkpoint_layers` those of one repeated layer at a time (the one
                 recomputed) and those outside the layers. Under FSDP weights are gathered in the
                 compute precision and stacked only inside layers `checkpoint_layers` recomputes: b
                 bytes a value of one layer's stacked copies, or no row
    activations  every node's output kept for the backward pass, for this device's share of the batch,
                 in compute precision; with `checkpoint_layers` only each layer's output and one
                 layer's insides are kept

The activation count is an upper bound (frees inside fused kernels are not modelled); the others are
exact for the tensors they name. Allocator slack and communication buffers come on top.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..blocks.dims import evaluate, product, symbols
from ..compiler.build_graph import INPUT
from ..compiler.memory import stacked_by_node

_COPY = re.compile(r"^(.*?\.\d+)(\.|$)")  # a module path inside a repeat copy: `llama_layer.3.attention_1`


@dataclass
class MemoryPlan:
    strategy: str
    processes: int
    precision: str
    params: int
    batch_per_device: int
    rows: dict[str, int | None]  # bytes per device by part; None: unknown (a size not given)
    host: int = 0  # bytes kept on the CPU instead (fsdp offload)
    unresolved: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(v for v in self.rows.values() if v is not None)

    def to_json(self) -> dict:
        return {
            "strategy": self.strategy,
            "processes": self.processes,
            "precision": self.precision,
            "params": self.params,
            "batch_per_device": self.batch_per_device,
            "per_device_bytes": self.rows | {"total": self.total},
            "host_bytes": self.host,
            "unresolved_sizes": self.unresolved,
        }


def _units(checked) -> tuple[dict[str, int], int]:
    """Parameters per repeated-layer copy (by module path) and outside any copy (the root's)."""
    units: dict[str, int] = {}
    root = 0
    for node, attrs in checked.graph.nodes.items():
        if attrs.block == INPUT or not attrs.params:
            continue
        match = _COPY.match(checked.module_path(node))
        if match:
            units[match.group(1)] = units.get(match.group(1), 0) + attrs.params
        else:
            root += attrs.params
    return units, root


def _activations(checked, sizes: Mapping[str, int], layers: bool) -> int | None:
    """Values kept for backward per example (elements); with `layers` (activation checkpointing),
    each copy keeps only its output and the largest copy's insides are added once."""
    outside, per_copy, last_of = 0, {}, {}
    for node, attrs in checked.graph.nodes.items():
        if attrs.block == INPUT:
            continue
        dims = attrs.type.dims
        if not all(symbols(d) <= set(sizes) for d in dims):
            return None
        elements = evaluate(product(dims), sizes)
        match = _COPY.match(checked.module_path(node))
        if layers and match:
            copy = match.group(1)
            per_copy[copy] = per_copy.get(copy, 0) + elements
            if attrs.order >= last_of.get(copy, (-1, 0))[0]:
                last_of[copy] = (attrs.order, elements)
        else:
            outside += elements
    return outside + sum(e for _, e in last_of.values()) + max(per_copy.values(), default=0)


def _stacked(checked, layers: bool, sharded: bool) -> int:
    """Values of the stacked weight copies that exist at once: all of them; with `layers` (activation
    checkpointing) a repeated layer's only while it is recomputed, one layer at a time; `sharded`,
    none outside the recomputed layers (build_sharded turns stacking off there)."""
    outside, per_copy = 0, {}
    for node, values in stacked_by_node(checked).items():
        match = _COPY.match(checked.module_path(node)) if layers else None
        if match:
            per_copy[match.group(1)] = per_copy.get(match.group(1), 0) + values
        else:
            outside += values
    return (0 if sharded else outside) + max(per_copy.values(), default=0)


def optimizer_slots(name: str, momentum: float) -> int:
    """The tensors the optimizer keeps per weight: Adam's two moments, SGD's momentum buffer."""
    return 2 if name in ("adam", "adamw") else (1 if momentum else 0)


def plan_memory(
    checked,
    *,
    processes: int = 1,
    strategy: str = "ddp",
    precision: str = "fp32",
    optimizer: str = "adamw",
    momentum: float = 0.9,
    batch: int = 1,
    sizes: Mapping[str, int] | None = None,
    offload: bool = False,
    checkpoint_layers: bool = False,
) -> MemoryPlan:
    sizes = dict(sizes or {})
    units, root = _units(checked)
    params = root + sum(units.values())
    shards = processes if strategy == "fsdp" else 1
    compute = 4 if precision == "fp32" else 2
    per_param_optim = 4 * optimizer_slots(optimizer, momentum)
    per_device = math.ceil(batch / processes)
    weights = math.ceil(4 * params / shards)
    grads = math.ceil(4 * params / shards)
    optim = math.ceil(per_param_optim * params / shards)
    elements = _activations(checked, sizes, checkpoint_layers)
    activations = None if elements is None else elements * per_device * compute
    rows: dict[str, int | None] = {"parameters": weights}
    if strategy == "fsdp":
        rows["gathered layers"] = 2 * compute * (root + 2 * max(units.values(), default=0))
    rows |= {"gradients": grads, "optimizer": optim, "activations": activations}
    if strategy != "fsdp":
        rows["weight copies"] = 2 * params if compute == 2 else 4 * _stacked(checked, checkpoint_layers, False)
    elif checkpoint_layers:
        rows["weight copies"] = compute * _stacked(checked, True, True)
    host = 0
    if strategy == "fsdp" and offload:
        host = weights + grads + optim
        rows |= {"parameters": 0, "gradients": 0, "optimizer": 0}
    unresolved = sorted(
        {s for n, a in checked.graph.nodes.items() for d in a.type.dims for s in symbols(d)} - set(sizes)
    )
    return MemoryPlan(strategy, processes, precision, params, per_device, rows, host, unresolved)


def plan_from_config(checked, config: dict, processes: int, sizes: Mapping[str, int] | None = None) -> MemoryPlan:
    from .config import get

    return plan_memory(
        checked,
        processes=processes,
        strategy=get(config, "distributed.strategy"),
        precision=config["precision"],
        optimizer=get(config, "optimizer.name"),
        momentum=get(config, "optimizer.momentum"),
        batch=config["batch_size"] or 1,
        sizes=sizes,
        offload=get(config, "distributed.offload"),
        checkpoint_layers=get(config, "distributed.checkpoint_layers"),
    )


def gib(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**30:,.2f} GiB"


def describe(plan: MemoryPlan) -> str:
    """One line of numbers, for messages."""
    parts = ", ".join(f"{name} {gib(value)}" for name, value in plan.rows.items())
    return f"{gib(plan.total)} per device ({parts})"
