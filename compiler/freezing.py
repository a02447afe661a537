"""Freezing (fine-tuning a published model): `freeze = true` on any block call keeps the
parameters of every node the call makes out of training (`requires_grad = False` once built)."""

from __future__ import annotations

from torch import nn

from ..dsl import ast
from ..dsl.errors import SpecError
from .evaluate import EvalError, evaluate

FREEZE = "freeze"


def freeze_value(kwarg: ast.Kwarg, scope, errors: list[SpecError]) -> bool:
    """`freeze = true` or `false` (a block parameter or let may give it); anything else is an error."""
    try:
        value = evaluate(kwarg.value, scope)
    except EvalError as failure:
        errors.append(failure.error)
        return False
    if not isinstance(value, bool):
        errors.append(
            SpecError(
                code="E304",
                message=f"freeze: expects true or false, got {value!r}",
                span=kwarg.value.span,
                hint="write freeze = true to keep the call's weights out of training",
            )
        )
        return False
    return value


def apply_freezing(module: nn.Module, graph) -> None:
    """Stop gradients to the modules of the frozen nodes."""
    for attrs in graph.nodes.values():
        if attrs.freeze and attrs.path:
            try:
                part = module.get_submodule(attrs.path)
            except AttributeError:  # a node without a module of its own (relu, add)
                continue
            part.requires_grad_(False)
