"""Checking run-time sizes given with `--dim` against each block's shape rule, at check time.

Shape inference runs once with sizes symbolic (`seq`); a rule that bounds a size (`pos_embed(16)`'s
table holds 16 positions) can only say no once the size is known. Re-running each rule with the
given sizes substituted turns a torch error at run time into a located error now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..blocks.dims import evaluate, symbols
from ..blocks.registry import ShapeError
from ..dsl.errors import SpecError
from .build_graph import INPUT, ModelGraph


def check_run_sizes(model: ModelGraph, sizes: Mapping[str, int]) -> list[SpecError]:
    """E403 for each block whose rule refuses the given sizes (one error per block call)."""
    if not sizes:
        return []
    graph, errors, seen = model.graph, [], set()
    for node in sorted(graph.nodes, key=lambda n: graph.nodes[n].order):
        attrs = graph.nodes[node]
        if attrs.block == INPUT or getattr(attrs.args, "bodies", None) is not None:
            continue  # a block with bodies checks its bodies' nodes, which are not in this graph
        inputs = [graph.nodes[i].type for i in attrs.inputs]
        if any(t is None for t in inputs) or not any(_sized(t, sizes) is not t for t in inputs):
            continue
        try:
            attrs.spec.shape([_sized(t, sizes) for t in inputs], attrs.args)
        except ShapeError as failure:
            if attrs.span in seen:  # the copies of a repeat share their call: say it once
                continue
            seen.add(attrs.span)
            given = ", ".join(f"{k}={v}" for k, v in sizes.items())
            errors.append(
                SpecError(
                    code="E403",
                    message=f"{attrs.spec.name}: with {given}, {failure.message}",
                    span=attrs.span,
                    hint=failure.hint,
                )
            )
    return errors


def _sized(t, sizes: Mapping[str, int]):
    """The type with the given sizes substituted; the same object when none of them appears."""
    dims = getattr(t, "dims", ())
    if not any(symbols(d) & set(sizes) for d in dims):
        return t
    return replace(t, dims=tuple(evaluate(d, sizes) if symbols(d) <= set(sizes) else d for d in dims))


def largest_size(model: ModelGraph, symbol: str, limit: int = 1 << 20) -> int | None:
    """The largest value of the run-time size `symbol` every block takes — a learned position table's
    length — or None when `limit` is taken too. A rule refuses sizes above its bound, so the sizes
    taken are found by halving the range between one taken and one refused."""
    if not check_run_sizes(model, {symbol: limit}):
        return None
    taken, refused = 0, limit
    while refused - taken > 1:
        middle = (taken + refused) // 2
        if check_run_sizes(model, {symbol: middle}):
            refused = middle
        else:
            taken = middle
    return taken
