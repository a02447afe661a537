"""Counting a checked model: parameters, FLOPs and training memory, per node and in total.

Everything is analytic — read from the block rules, with no weight allocated — so a
47-billion-parameter spec summarises in about a second. Run-time sizes stay symbolic unless
given (`--dim seq=1024`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..blocks.dims import Dim, evaluate, product, symbols
from .expansion import INPUT, ModelGraph

BYTES_PER_VALUE = 4  # fp32


@dataclass(frozen=True)
class NodeRow:
    node: str
    block: str
    shape: str
    params: int
    flops: Dim


@dataclass
class Summary:
    """Per-node rows and totals. FLOPs are one forward pass over the batch (a multiply-add is 2);
    memory is fp32 weights, gradients and every node's output kept for the backward pass."""

    model: str
    rows: list[NodeRow]
    params: int
    flops: Dim
    memory: dict[str, Dim]
    inputs: dict[str, str]
    outputs: dict[str, str]
    batch: int
    sizes: dict[str, int] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)

    @property
    def layers(self) -> int:
        return len(self.rows)

    def to_json(self) -> dict[str, Any]:
        def number(value: Dim) -> int | str:
            return value if isinstance(value, int) else str(value)

        return {
            "model": self.model,
            "params": self.params,
            "flops": number(self.flops),
            "memory": {key: number(value) for key, value in self.memory.items()},
            "layers": self.layers,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "batch": self.batch,
            "sizes": self.sizes,
            "unresolved_sizes": self.unresolved,
            "nodes": [
                {"node": r.node, "block": r.block, "shape": r.shape, "params": r.params, "flops": number(r.flops)}
                for r in self.rows
            ],
        }


def model_symbols(model: ModelGraph) -> set[str]:
    found: set[str] = set()
    for node in model.graph.nodes:  # inputs' sizes, and sizes a block brings (`link`'s pairs)
        for d in getattr(model.graph.nodes[node].get("type"), "dims", ()):
            found |= symbols(d)
    return found


def summarize(model: ModelGraph, sizes: Mapping[str, int] | None = None, batch: int = 1) -> Summary:
    sizes = dict(sizes or {})
    graph = model.graph

    def sized(value: Dim) -> Dim:
        return evaluate(value, sizes) if symbols(value) <= set(sizes) else value

    rows = []
    total_flops: Dim = 0
    activations: Dim = 0
    for node in sorted(graph.nodes, key=lambda n: graph.nodes[n]["order"]):
        attrs = graph.nodes[node]
        if attrs["block"] == INPUT:
            continue
        shape = replace(attrs["type"], dims=tuple(sized(d) for d in attrs["type"].dims))  # --dim sizes shown too
        rows.append(NodeRow(node, attrs["block"], str(shape), attrs["params"], sized(attrs["flops"])))
        total_flops = total_flops + attrs["flops"]
        activations = activations + product(attrs["type"].dims)
    params = sum(r.params for r in rows)
    weights = params * BYTES_PER_VALUE
    activation_bytes = sized(activations * batch * BYTES_PER_VALUE)
    memory = {
        "weights": weights,
        "gradients": weights,
        "activations": activation_bytes,
        "total": sized(2 * weights + activations * batch * BYTES_PER_VALUE),
    }
    return Summary(
        model=model.name,
        rows=rows,
        params=params,
        flops=sized(total_flops * batch),
        memory=memory,
        inputs={n: str(graph.nodes[n]["type"]) for n in model.inputs},
        outputs={name: str(graph.nodes[node]["type"]) for name, node in model.outputs.items()},
        batch=batch,
        sizes=sizes,
        unresolved=sorted(model_symbols(model) - set(sizes)),
    )
