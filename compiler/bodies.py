"""Blocks that carry bodies: `NAME(args) { a | b | … }` for any block whose declaration has a
`BodySlot` (`moe` is one; a plugin can declare another).

Each body is expanded into a graph of its own — a small model whose input is what the block gives
it (`x`) and whose output is its last value — that sees the enclosing constants but no enclosing
tensors. The block's arguments are bound as any block's; its rules get the bodies as `args.bodies`
and ask for their shapes through `Bodies.infer`, which runs the compiler's shape pass on them.
"""

from __future__ import annotations

from types import SimpleNamespace

from ..blocks.registry import BlockSpec, BodyErrors, BodyResult, ShapeError
from ..blocks.tensor_type import TensorType
from ..dsl import ast
from ..dsl.errors import SpecError
from .arguments import bind_block_args
from .evaluate import Bindings
from .expansion import Context
from .model_graph import FAILED, INPUT, ModelGraph
from .naming import assign_attributes

BODY_INPUT = "x"


class Bodies:
    """The bodies of one call: distinct graphs, which graph each copy runs, and their shapes on demand."""

    def __init__(self, graphs: list[ModelGraph], copies: list[int]):
        self.graphs = graphs
        self.copies = copies
        self.classes: list[str] | None = None  # set by codegen: each body's generated class
        self._inferred: dict[TensorType, list[BodyResult]] = {}
        self._failed: dict[TensorType, list[SpecError]] = {}

    def infer(self, value: TensorType) -> list[BodyResult]:
        """Each body's type, parameters and FLOPs when given `value`; `BodyErrors` if one does not fit."""
        from .infer_shapes import infer_shapes  # the compiler's own shape pass, run on each body

        if value not in self._inferred and value not in self._failed:
            errors = []
            for graph in self.graphs:
                for node, attrs in graph.graph.nodes.items():
                    if node == BODY_INPUT:
                        attrs.type = value
                    else:
                        attrs.type = None
                errors += infer_shapes(graph)
            if errors:
                self._failed[value] = errors
            else:
                self._inferred[value] = [_result(graph) for graph in self.graphs]
        if value in self._failed:
            raise BodyErrors(self._failed[value])
        return self._inferred[value]


def _result(graph: ModelGraph) -> BodyResult:
    nodes = graph.graph.nodes.values()
    output = graph.graph.nodes[graph.outputs["y"]].type
    return BodyResult(output, sum(n.params for n in nodes), sum((n.flops for n in nodes), 0))


def build_body_call(builder, spec: BlockSpec, call: ast.Call, branches, ctx: Context, current: str) -> str:
    """One node for the call, holding its bodies' graphs in `args.bodies`."""
    args = bind_block_args(spec, call.args, builder.scope(ctx), call.span, builder.errors)
    graphs = [_body_graph(builder, branch, ctx, i) for i, branch in enumerate(branches)]
    if args is None or any(g is None for g in graphs):
        return FAILED
    try:
        copies = spec.bodies.arrange(args, len(graphs))
    except ShapeError as problem:
        return builder.error("E304", problem.message, call.span, problem.hint)
    values = dict(vars(args), bodies=Bodies(graphs, copies))
    return builder.add_node(ctx, spec, SimpleNamespace(**values), [current], ["its input"], call.span)


def _body_graph(builder, body: ast.Body, ctx: Context, index: int) -> ModelGraph | None:
    sub = type(builder)(builder.lets)
    sub.graph.add_node(BODY_INPUT, block=INPUT, spec=None, type=None, inputs=[], span=body.span, order=0)
    values = Bindings()
    values.local["in"] = BODY_INPUT
    result = sub.body(body, Context(ctx.module, ctx.params, values, "", ctx.stack), BODY_INPUT)
    builder.errors += sub.errors
    if result == FAILED or sub.errors:
        return None
    graph = ModelGraph(f"body{index + 1}", sub.graph, [BODY_INPUT], {"y": result}, body.span)
    assign_attributes(graph)
    return graph
