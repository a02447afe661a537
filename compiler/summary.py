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
from .model_graph import INPUT, ModelGraph

BYTES_PER_VALUE = 4  # fp32


@dataclass(frozen=True)
class NodeRow:
    """One row: a node, or (with `depth`) a block instance or a whole repeat folded into one.
    `flops` is over the batch; `inputs` names the rows it reads (its "connected to")."""

    node: str
    block: str
    shape: str
    params: int
    flops: Dim
    dims: tuple = ()  # the output shape's dimensions: ints, or symbols as strings
    inputs: tuple[str, ...] = ()


@dataclass
class Summary:
    """Per-row and total counts. FLOPs are one forward pass over the batch (a multiply-add is 2);
    memory is fp32 weights, gradients and every node's output kept for the backward pass (no
    optimizer state, no framework workspace). `active_params` counts what one token or example
    uses in a mixture of experts (the router, and its top_k largest experts)."""

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
    active_params: int | None = None  # None: no mixture of experts
    nodes: int = 0  # primitive block calls, whatever the depth shown
    frozen_params: int = 0  # the part of `params` that `freeze = true` keeps out of training

    @property
    def layers(self) -> int:
        return self.nodes or len(self.rows)

    def to_json(self) -> dict[str, Any]:
        """Stable types (docs/language.md, "summary as JSON"): every count is an int, or null when it
        depends on a size not given (its formula is then in the `*_formula` string, always present);
        shapes are lists whose entries are ints or symbol names."""

        def count(value: Dim) -> int | None:
            return value if isinstance(value, int) else None

        return {
            "model": self.model,
            "params": self.params,
            "frozen_params": self.frozen_params,
            "active_params": self.active_params,
            "flops": count(self.flops),
            "flops_formula": str(self.flops),
            "memory": {key: count(value) for key, value in self.memory.items()},
            "memory_formula": {key: str(value) for key, value in self.memory.items()},
            "layers": self.layers,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "batch": self.batch,
            "sizes": self.sizes,
            "unresolved_sizes": self.unresolved,
            "nodes": [
                {
                    "node": r.node,
                    "block": r.block,
                    "shape": list(r.dims),
                    "params": r.params,
                    "flops": count(r.flops),
                    "flops_formula": str(r.flops),
                    "inputs": list(r.inputs),
                }
                for r in self.rows
            ],
        }


def model_symbols(model: ModelGraph) -> set[str]:
    found: set[str] = set()
    for node in model.graph.nodes:  # inputs' sizes, and sizes a block brings (`link`'s pairs)
        for d in getattr(model.graph.nodes[node].type, "dims", ()):
            found |= symbols(d)
    return found


def summarize(
    model: ModelGraph, sizes: Mapping[str, int] | None = None, batch: int = 1, depth: int | None = None
) -> Summary:
    """Rows per node, or with `depth` per block instance / repeat nested deeper than `depth` levels
    (torchinfo's depth: 1 is the model's top level, GPT-2 a handful of rows)."""
    sizes = dict(sizes or {})
    graph = model.graph

    def sized(value: Dim) -> Dim:
        return evaluate(value, sizes) if symbols(value) <= set(sizes) else value

    nodes = [n for n in sorted(graph.nodes, key=lambda n: graph.nodes[n].order) if graph.nodes[n].block != INPUT]
    row_of = {n: n for n in model.inputs}
    groups: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for node in nodes:
        key, _, copy = _group(graph.nodes[node], depth)
        key = key or node
        groups.setdefault(key, []).append(node)
        if copy:  # a repeat of one block reads as its first and last copies: pre_ln_1…pre_ln_12
            first = names.get(key, copy).split("…")[0]
            names[key] = first if copy == first else f"{first}…{copy}"
    for key, members in groups.items():
        for member in members:
            row_of[member] = names.get(key, key)
    rows = []
    total_flops: Dim = 0
    activations: Dim = 0
    for group, members in groups.items():
        key = names.get(group, group)
        last = graph.nodes[members[-1]]
        dims = tuple(sized(d) for d in last.type.dims)  # --dim sizes shown too
        shape = str(replace(last.type, dims=dims))
        inputs = []
        for member in members:
            for source in graph.nodes[member].inputs:
                name = row_of.get(source, source)
                if name != key and name not in inputs:
                    inputs.append(name)
        flops = sum((graph.nodes[m].flops for m in members), 0)
        _, block, _ = _group(graph.nodes[members[0]], depth)
        rows.append(
            NodeRow(
                key,
                block or last.block,
                shape,
                sum(graph.nodes[m].params for m in members),
                sized(flops * batch),
                tuple(d if isinstance(d, int) else str(d) for d in dims),
                tuple(inputs),
            )
        )
    for node in nodes:
        total_flops = total_flops + graph.nodes[node].flops
        activations = activations + product(graph.nodes[node].type.dims)
    params = sum(r.params for r in rows)
    frozen = sum(graph.nodes[n].params for n in nodes if graph.nodes[n].freeze)
    weights = params * BYTES_PER_VALUE
    gradients = (params - frozen) * BYTES_PER_VALUE  # a frozen weight has none
    activation_bytes = sized(activations * batch * BYTES_PER_VALUE)
    memory = {
        "weights": weights,
        "gradients": gradients,
        "activations": activation_bytes,
        "total": sized(weights + gradients + activations * batch * BYTES_PER_VALUE),
    }
    return Summary(
        model=model.name,
        rows=rows,
        params=params,
        flops=sized(total_flops * batch),
        memory=memory,
        inputs={n: str(graph.nodes[n].type) for n in model.inputs},
        outputs={name: str(graph.nodes[node].type) for name, node in model.outputs.items()},
        batch=batch,
        sizes=sizes,
        unresolved=sorted(model_symbols(model) - set(sizes)),
        active_params=_active_params(graph, nodes, params),
        nodes=len(nodes),
        frozen_params=frozen,
    )


def _group(attrs: dict, depth: int | None) -> tuple[str | None, str | None, str | None]:
    """The row a node folds into at `depth` — (key, what it is, the block copy it is in) — or Nones
    to show it alone. Levels are user-block instances and repeats (residual and parallel bodies are
    not levels): at depth d a node inside d levels or more folds into its d-th."""
    levels = [s for s in attrs.scopes if s.kind in ("block", "repeat")]
    if depth is None or len(levels) < max(depth, 1):
        return None, None, None
    at = max(depth, 1) - 1
    scope = levels[at]
    if scope.kind == "block":
        return scope.key, scope.label, None
    inner = levels[at + 1] if at + 1 < len(levels) else None
    if inner is not None and inner.kind == "block":
        return scope.key, f"{inner.label} × {scope.count}", inner.key
    return scope.key, f"repeat × {scope.count}", None


def _active_params(graph, nodes: list[str], params: int) -> int | None:
    """Parameters one token (or example) uses: a block whose items run only some of its bodies (a
    mixture of experts: its top_k) counts its own and its largest such bodies. None when no block does."""
    found = False
    for node in nodes:
        spec, args = graph.nodes[node].spec, graph.nodes[node].args
        if spec is None or spec.bodies is None or spec.bodies.active is None:
            continue
        found = True
        bodies = args.bodies
        sizes = [sum(n.params for n in bodies.graphs[c].graph.nodes.values()) for c in bodies.copies]
        params -= sum(sizes) - sum(sorted(sizes, reverse=True)[: spec.bodies.active(args)])
    return params if found else None
