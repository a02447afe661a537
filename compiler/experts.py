"""Mixture-of-experts stages: `moe(experts = 8, top_k = 2) { body }` and `moe(top_k = 1) { a | b | c }`.

Each expert body is expanded into a graph of its own — a small model whose input is what the
router sends it — shape-checked on that input and generated as its own class; the stage itself is
one node of the enclosing graph whose module routes between instances of those classes.

Routing (LANGUAGE.md §4): `route = token` sends single positions (the expert body is checked on
one position's features, `[d]`); `route = example` sends whole examples. Without `route`, tokens
are routed when every expert acts per position, and whole examples when any expert mixes
positions (an LSTM, attention or Mamba expert); asking for `route = token` then is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from ..blocks.registry import lookup
from ..blocks.tensor_type import TensorType
from ..dsl import ast
from ..dsl.errors import SpecError
from .arguments import match_arguments
from .build_graph import FAILED, INPUT, Context, ModelGraph
from .evaluate import Bindings, EvalError, Word, evaluate

EXPERT_INPUT = "x"
ROUTES = ("token", "example")


@dataclass
class Experts:
    """The expert bodies of one `moe` stage: distinct graphs, and which graph each expert copies."""

    graphs: list[ModelGraph]
    copies: list[int]  # expert i runs graphs[copies[i]] (own weights per expert)
    top_k: int
    route: str | None
    z_loss: float


def build_moe(builder, term: ast.Moe, ctx: Context, current: str) -> str:
    """Expand a `moe` stage into one graph node holding its experts' graphs."""
    names = ["experts", "top_k", "route", "z_loss"]
    matched = match_arguments("moe", names, set(), term.args, term.span, builder.errors)
    if matched is None:
        return FAILED
    values = {"experts": None, "top_k": 1, "route": None, "z_loss": 0.0}
    for name, expr in matched.items():
        try:
            value = evaluate(expr, builder.scope(ctx))
        except EvalError as failure:
            builder.errors.append(failure.error)
            return FAILED
        values[name] = value.name if isinstance(value, Word) else value
        problem = _check_value(name, values[name])
        if problem:
            return builder.error("E304", f"moe: {problem}", expr.span)
    branches = term.branches
    if len(branches) == 1:
        if values["experts"] is None:
            return builder.error(
                "E303",
                "moe with one body needs the number of experts",
                term.span,
                "write moe(experts = 8, top_k = 2) { … }, or list several bodies: { a | b }",
            )
        copies = [0] * values["experts"]
    else:
        if values["experts"] not in (None, len(branches)):
            return builder.error(
                "E304",
                f"moe: experts = {values['experts']} but {len(branches)} bodies are listed",
                term.span,
                "leave out `experts` when the experts are listed one by one",
            )
        copies = list(range(len(branches)))
    if values["top_k"] > len(copies):
        return builder.error(
            "E305", f"moe: top_k = {values['top_k']} is more than the {len(copies)} experts", term.span
        )
    graphs = [_expert_graph(builder, branch, ctx, i) for i, branch in enumerate(branches)]
    if any(g is None for g in graphs):
        return FAILED
    experts = Experts(graphs, copies, values["top_k"], values["route"], float(values["z_loss"]))
    args = SimpleNamespace(
        experts=len(copies), top_k=experts.top_k, route=experts.route, z_loss=experts.z_loss, bodies=experts
    )
    return builder.add_node(ctx, lookup("moe"), args, [current], ["its input"], term.span)


def _check_value(name: str, value) -> str | None:
    if name in ("experts", "top_k") and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        return f"{name} must be a positive integer, got {value}"
    if name == "route" and value not in ROUTES:
        return f"route must be token or example, got {value}"
    if name == "z_loss" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        return f"z_loss must be a number ≥ 0, got {value}"
    return None


def _expert_graph(builder, body: ast.Body, ctx: Context, index: int) -> ModelGraph | None:
    """One expert body as a model of its own: input `x`, output its last value. It sees the
    enclosing constants but no enclosing tensors (only what the router sends it)."""
    sub = type(builder)(builder.lets)
    sub.graph.add_node(EXPERT_INPUT, block=INPUT, spec=None, type=None, inputs=[], span=body.span, order=0)
    values = Bindings()
    values.local["in"] = EXPERT_INPUT
    result = sub.body(body, Context(ctx.module, ctx.params, values, "", ctx.stack), EXPERT_INPUT)
    builder.errors += sub.errors
    if result == FAILED or sub.errors:
        return None
    return ModelGraph(f"expert{index + 1}", sub.graph, [EXPERT_INPUT], {"y": result}, body.span)


def infer_moe(attrs: dict, value: TensorType, infer_graph) -> tuple[TensorType, int, object, list[SpecError]]:
    """Type, parameters and FLOPs of a moe node whose input is `value`; `infer_graph` is the
    compiler's shape pass, run on each expert graph."""
    experts: Experts = attrs["args"].bodies
    if value.rank == 0:
        return None, 0, 0, [SpecError(code="E401", message=f"moe: expects features, got {value}", span=attrs["span"])]
    per_position = TensorType(value.dims[-1:], "float")
    route = experts.route
    if route in (None, "token"):
        errors = _infer_all(experts, per_position, infer_graph)
        if errors and route == "token":
            hint = "route = example sends whole examples, for experts that mix positions (LSTM, attention, Mamba)"
            return None, 0, 0, [_with_hint(e, hint) for e in errors]
        route = "example" if errors else "token"
    if route == "example":
        errors = _infer_all(experts, value, infer_graph)
        if errors:
            return None, 0, 0, errors
    outputs = [g.graph.nodes[g.outputs["y"]]["type"] for g in experts.graphs]
    for i, other in enumerate(outputs[1:], start=2):
        if other.dims != outputs[0].dims:
            return (
                None,
                0,
                0,
                [
                    SpecError(
                        code="E401",
                        message=f"moe: the experts' outputs differ: expert 1 gives "
                        f"{outputs[0]} but expert {i} gives {other}",
                        span=attrs["span"],
                        hint="every expert must produce the same shape",
                    )
                ],
            )
    attrs["route"] = route
    d = value.dims[-1]
    expert_params = [sum(n.get("params", 0) for n in g.graph.nodes.values()) for g in experts.graphs]
    expert_flops = [sum((n.get("flops", 0) for n in g.graph.nodes.values()), 0) for g in experts.graphs]
    count = len(experts.copies)
    params = d * count + sum(expert_params[c] for c in experts.copies)
    positions = 1
    for size in value.dims[:-1]:
        positions = positions * size
    mean_flops = sum((expert_flops[c] for c in experts.copies), 0) // count if count else 0
    if route == "token":
        out = value.with_dims(value.dims[:-1] + outputs[0].dims)
        flops = positions * (2 * d * count + experts.top_k * mean_flops)
    else:
        out = value.with_dims(outputs[0].dims)
        flops = 2 * d * count + experts.top_k * mean_flops
    return out, params, flops, []


def _infer_all(experts: Experts, value: TensorType, infer_graph) -> list[SpecError]:
    errors = []
    for graph in experts.graphs:
        for node, attrs in graph.graph.nodes.items():
            if node == EXPERT_INPUT:
                attrs["type"] = value
            else:
                attrs.pop("type", None)
        errors += infer_graph(graph)
    return errors


def _with_hint(error: SpecError, hint: str) -> SpecError:
    return SpecError(code=error.code, message=error.message, span=error.span, hint=hint, notes=error.notes)
