"""Pass 3: infer every node's output type and count its parameters and FLOPs — no weight allocated.

Nodes are visited in topological order; each block's declared rules map its input types to an
output type. A node whose input failed is skipped, so one mistake is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import networkx as nx

from ..blocks.registry import BodyErrors, ShapeError
from ..dsl.errors import SpecError
from .evaluate import TensorRef
from .model_graph import INPUT, ModelGraph, NodeGraph, called_from


@dataclass(frozen=True)
class Ref:
    """A `ref` argument after shape inference: the stage it names and that stage's weight shape."""

    node: str
    attr: str
    block: str
    args: SimpleNamespace
    weight_shape: tuple[int, ...] | None


def infer_shapes(model: ModelGraph) -> list[SpecError]:
    errors: list[SpecError] = []
    graph = model.graph
    for node in nx.topological_sort(graph):
        attrs = graph.nodes[node]
        if attrs.block == INPUT:
            attrs.update(params=0, flops=0)
            continue
        inputs = [graph.nodes[i].type for i in attrs.inputs]
        if any(t is None for t in inputs):
            continue
        spec = attrs.spec
        wrong = next((i for i, t in enumerate(inputs) if not _accepts(spec.accepts, t.kind)), None)
        if wrong is not None:
            errors.append(_in_calls(_kind_error(attrs, inputs[wrong], wrong), attrs))
            continue
        try:
            args = _resolve_refs(attrs.args, graph)
            out = spec.shape(inputs, args)
            attrs.update(type=out, args=args, params=spec.params(inputs, args), flops=spec.flops(inputs, out, args))
        except BodyErrors as failure:  # a block's bodies do not fit what it gives them: their own errors
            errors += [_with_hint(e, failure.hint) for e in failure.errors] if failure.hint else failure.errors
        except ShapeError as failure:
            message = failure.message
            for i, label in enumerate(attrs.labels):
                message = message.replace(f"{{in{i}}}", label)
            errors.append(
                _in_calls(
                    SpecError(
                        code="E401",
                        message=f"{spec.name}: {message}",
                        span=attrs.span,
                        hint=failure.hint,
                        notes=_input_notes(attrs, graph),
                    ),
                    attrs,
                )
            )
        except Exception as failure:  # a plugin's rule that crashed: report it, never a traceback
            errors.append(
                _in_calls(
                    SpecError(
                        code="E499",
                        message=f"{spec.name}: its shape rule failed ({type(failure).__name__}: {failure})",
                        span=attrs.span,
                        hint=f"the block comes from {spec.origin}; report this to its authors",
                    ),
                    attrs,
                )
            )
    return errors


def _in_calls(error: SpecError, attrs) -> SpecError:
    """A node made in user-block bodies: notes on the calls it was made for, innermost first."""
    for scope in reversed(attrs.scopes):
        if scope.kind == "block" and scope.call is not None:
            error = called_from(error, scope.call, scope.label)
    return error


def _accepts(accepted: tuple[str, ...], kind: str) -> bool:
    """Graph values (node rows stacked over the batch's graphs) go only to blocks that declare them;
    edge values (one row per node pair) to the per-row blocks that take both floats and graphs."""
    if kind == "edges":
        return "graph" in accepted and "float" in accepted
    return kind in accepted


def _kind_error(attrs, value, index: int) -> SpecError:
    spec = attrs.spec
    label = attrs.labels[index]
    if value.kind == "tokens":
        message = f"{spec.name} expects float values but {label} is {value} (integer ids)"
        hint = "look the ids up first: `-> embed(vocab, dim) -> …`"
    elif value.kind in ("graph", "edges"):
        rows = "node" if value.kind == "graph" else "node pair"
        message = f"{spec.name} does not accept {label} of type {value}, one row per {rows} of a batch of graphs"
        hint = (
            "graph values go through per-node blocks (dense, activations, norms) and graph blocks; "
            "pool(mean) makes one vector per graph"
            if value.kind == "graph"
            else None
        )
    elif "tokens" in spec.accepts:
        message = f"{spec.name} expects token ids (tokens[…]) but {label} is {value}"
        hint = "declare the input as `tokens[seq]`"
    elif spec.accepts == ("graph",):
        message = f"{spec.name} expects graph node features (graph[…]) but {label} is {value}"
        hint = "declare a graph input, graph[nodes, F], or read an image or sequence as one with grid_graph"
    else:
        message = f"{spec.name} does not accept {label} of type {value}"
        hint = None
    return SpecError(code="E402", message=message, span=attrs.span, hint=hint)


def _input_notes(attrs, graph) -> tuple:
    if len(attrs.inputs) < 2:
        return ()
    notes = []
    for source, label in zip(attrs.inputs, attrs.labels):
        origin = graph.nodes[source]
        notes.append((origin.span, f"{label} ({origin.type}) comes from here"))
    return tuple(notes)


def _resolve_refs(args: SimpleNamespace, graph: NodeGraph) -> SimpleNamespace:
    values = dict(vars(args))
    for name, value in values.items():
        if isinstance(value, TensorRef):
            target = graph.nodes[value.node]
            spec = target.spec
            weight = None
            if spec is not None and spec.weight is not None and target.type is not None:
                inputs = [graph.nodes[i].type for i in target.inputs]
                weight = spec.weight(inputs, target.args)
            values[name] = Ref(value.node, target.attr, target.block, target.args, weight)
    return SimpleNamespace(**values)


def _with_hint(error: SpecError, hint: str) -> SpecError:
    return SpecError(code=error.code, message=error.message, span=error.span, hint=hint, notes=error.notes)
