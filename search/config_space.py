"""Training hyper-parameters in the space: a config value written as a space form
(`optimizer.lr: log_range(1e-4, 1e-2)`, `batch_size: choice(32, 64)`) is an axis named by its key."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..compiler.space import Axis
from ..compiler.space_reader import axis_of
from ..dsl import ast, parse
from ..dsl.errors import SpecError, SpecErrors
from ..train.config import defaults, merge, put, read_config_tree
from ..train.errors import TrainError

_FORMS = ("choice(", "range(", "log_range(")


def read_config_space(path: Path | None) -> tuple[dict, list[Axis]]:
    """(the config tree as written, its axes). Without a file: no tree, no axes. The file's other
    mistakes are reported here, before any trial runs: its keys are checked with every axis at a value
    it can take."""
    if path is None:
        return {}, []
    tree = copy.deepcopy(dict(read_config_tree(path)))
    axes = [
        (dotted, _axis(dotted, value, path))
        for dotted, value in _leaves(tree)
        if isinstance(value, str) and value.replace(" ", "").startswith(_FORMS)
    ]
    placed = copy.deepcopy(tree)
    for dotted, axis in axes:
        put(placed, dotted, axis.check_values()[0])
    merge(defaults(), placed, str(path))
    return tree, [axis for _, axis in axes]


def _axis(dotted: str, text: str, path: Path) -> Axis:
    source = f"let value = {text}\n"
    errors: list[SpecError] = []
    try:
        let = parse(source, str(path)).declarations[0]
    except SpecErrors as failure:
        raise TrainError(
            f"{path}: {dotted}: {text!r} is not a choice or a range: {failure.errors[0].message}"
        ) from None
    axis = axis_of(dotted, let.value, source, errors) if isinstance(let, ast.Let) else None
    if axis is None:
        reason = errors[0].message if errors else "not a choice or a range"
        hint = errors[0].hint if errors and errors[0].hint else "write choice(a, b), range(lo, hi) or log_range(lo, hi)"
        raise TrainError(f"{path}: {dotted}: {reason}", hint)
    return axis


def _leaves(tree: Any, prefix: str = ""):
    if isinstance(tree, Mapping) and not prefix.endswith("data.options"):
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    else:
        yield prefix, tree


def config_at(tree: dict, point: Mapping[str, Any], where: str) -> dict:
    """The full config (defaults, then the file with the point's values written in)."""
    tree = copy.deepcopy(tree)
    for dotted, value in point.items():
        put(tree, dotted, value)
    return merge(defaults(), tree, where)
