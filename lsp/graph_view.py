"""The one place the language server reads a checked model's graph.

The compiler's node attributes may change shape (typed records instead of attribute dicts); only
`node_views` and `bound_nodes` below need to follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..compiler import CheckedModel
from ..dsl.errors import Span


@dataclass(frozen=True)
class NodeView:
    """What hover shows of one graph node: its block, output shape, cost and source span."""

    name: str
    block: str
    shape: str
    params: int
    flops: Any  # an int, or a polynomial in the model's run-time sizes (blocks/dims.py), summable
    span: Span | None
    inputs: tuple[str, ...]
    order: int
    instance: tuple[str, str] | None  # (user block, instance key) of the outermost block call that made it


def node_views(checked: CheckedModel) -> dict[str, NodeView]:
    """Every node of the checked model, by node name, in graph order."""
    views = {}
    for order, (name, attrs) in enumerate(checked.graph.nodes(data=True)):
        kind = attrs.type
        block = next((s for s in attrs.scopes if s.kind == "block"), None)
        views[name] = NodeView(
            name=name,
            block=str(attrs.block),
            shape="?" if kind is None else str(kind),
            params=int(attrs.params or 0),
            flops=attrs.flops if attrs.flops is not None else 0,
            span=attrs.span,
            inputs=tuple(attrs.inputs),
            order=order,
            instance=(block.label, block.key) if block is not None else None,
        )
    return views


def bound_nodes(checked: CheckedModel) -> dict[str, str]:
    """The model body's bound names (inputs, `as`, `=`) -> the node each names."""
    return dict(checked.model.bound)


def io_types(checked: CheckedModel) -> tuple[dict[str, str], dict[str, str]]:
    """The model's inputs and outputs with their types, as text."""
    inputs = {name: str(kind) for name, kind in checked.input_types.items()}
    return inputs, {name: str(kind) for name, kind in checked.output_types.items()}
