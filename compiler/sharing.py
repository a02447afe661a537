"""Weight sharing (LANGUAGE.md §8): `share = NAME` on a block call, `STAGE * N shared` and
`repeat N shared { … }`.

The graph keeps one node per call, so shapes, diagrams and probes see every use; a node that
shares records the node whose module it uses (`shares`), and a block instance or repeat copy that
shares records the unit it calls (its scope's `shares`). A shared node counts no parameters of its
own, and both calls must build the same module: same block, same arguments, compatible inputs.
"""

from __future__ import annotations

from ..dsl import ast
from ..dsl.errors import Span, SpecError
from .arguments import show
from .evaluate import EvalError, TensorRef, evaluate
from .model_graph import Node

SHARE = "share"


def uses_anothers_module(attrs: Node) -> bool:
    """A call with `share = NAME` uses NAME's module; the calls inside a shared unit (a block instance
    with `share =`, a copy of `* N shared`) build their own, since the unit's class is the shared
    unit's and its module is called instead."""
    return attrs.shares is not None and not attrs.unit_shared


def share_target(kwarg: ast.Kwarg, scope, errors: list[SpecError]) -> TensorRef | None:
    """The value `share = NAME` names (its node, and NAME for messages), or None after recording why not."""
    try:
        value = evaluate(kwarg.value, scope)
    except EvalError as failure:
        errors.append(failure.error)
        return None
    if not isinstance(value, TensorRef):
        errors.append(
            SpecError(
                code="E230",
                message="share: expects the name of a value made by an earlier call",
                span=kwarg.value.span,
                hint="bind the call whose weights to reuse (`… -> encoder(64) as a`) and write share = a",
            )
        )
        return None
    return value


def mismatch(what: str, this: str, other: str, span: Span, other_span: Span | None) -> SpecError:
    return SpecError(
        code="E231",
        message=f"share: {what}",
        span=span,
        hint=f"share the weights of a call of the same block with the same arguments ({this} vs {other})",
        notes=((other_span, "the call whose weights it would share"),) if other_span else (),
    )


def pair_nodes(graph, sharing: list[str], shared: list[str], span: Span) -> None:
    """Each node of a sharing expansion uses the module of the node in the same place of the shared one."""
    for node, target in zip(sharing, shared):
        graph.nodes[node].shares = graph.nodes[target].shares or target
        graph.nodes[node].share_span = span


def check_shares(graph) -> list[SpecError]:
    """After shape inference: each sharing node builds the module it shares, and counts no parameters.
    One error per sharing call or repeat: the copies after the first mismatch follow from it."""
    errors, reported = [], set()
    for node, attrs in graph.nodes.items():
        target = attrs.shares
        if target is None or attrs.type is None or graph.nodes[target].type is None:
            continue
        other = graph.nodes[target]
        span = attrs.share_span or attrs.span
        if _construct(graph, node) != _construct(graph, target) and span not in reported:
            reported.add(span)
            mine, theirs = _input_types(graph, node), _input_types(graph, target)
            copy = next((s for s in reversed(attrs.scopes) if s.kind == "repeat" and s.shared), None)
            if copy is not None:
                message = (
                    f"share: the copies of a shared repeat cannot use one set of weights: their inputs differ "
                    f"({attrs.block} takes {theirs} in copy 1 but {mine} in copy {copy.index})"
                )
                hint = (
                    "each copy of `* N shared` or `repeat N shared` must give back the shape it takes; "
                    "drop `shared` to give each copy its own weights"
                )
                note = "copy 1's call"
            else:
                message = (
                    f"share: {attrs.block} cannot use the weights of the call it shares: its inputs differ "
                    f"({mine} here, {theirs} there)"
                )
                hint = "share weights only between calls whose inputs fit the same weights"
                note = "the call whose weights it would share"
            notes = ((other.span, note),) if other.span else ()
            errors.append(SpecError(code="E231", message=message, span=span, hint=hint, notes=notes))
        attrs.params = 0
    return errors


def _input_types(graph, node: str) -> str:
    return ", ".join(str(graph.nodes[i].type) for i in graph.nodes[node].inputs)


def _construct(graph, node: str):
    attrs = graph.nodes[node]
    spec = attrs.spec
    if spec is None or spec.module is None:
        return None
    inputs = [graph.nodes[i].type for i in attrs.inputs]
    try:
        return spec.module(inputs, attrs.args)
    except Exception:  # noqa: BLE001 - a rule that cannot build for these inputs: the modules differ
        return f"no {spec.name} module"


def same_arguments(a, b) -> bool:
    """Arguments compared by value; a bound tensor by the node it names (not where it is written)."""

    def values(args):
        items = args if isinstance(args, dict) else vars(args)
        return {k: (v.node if isinstance(v, TensorRef) else v) for k, v in items.items()}

    return values(a) == values(b)


def show_args(args, other=None) -> str:
    """`out = 8, bias = true`; given the other call's arguments, only those that differ from them."""
    items = args if isinstance(args, dict) else vars(args)
    if other is not None:
        theirs = other if isinstance(other, dict) else vars(other)
        items = {k: v for k, v in items.items() if not same_arguments({k: v}, {k: theirs.get(k)})}
    return ", ".join(f"{k} = {show(v)}" for k, v in items.items() if not k.startswith("_"))
