"""Reading a search space: the axes of a spec's `choice(…)`, `range(…)` and `log_range(…)` lets, and a
located error (E241) for each such form where no value can vary — inside an argument or an
expression, as a block's or model's name, an empty choice, a range without two numeric bounds."""

from __future__ import annotations

from pathlib import Path

from ..dsl import ast, parse
from ..dsl.errors import Span, SpecError, SpecErrors
from .evaluate import OPERATORS, SPACE_FORMS
from .space import Axis, Option, Space, Value


def read_space(text: str, path: str) -> Space:
    """The axes of a spec's source; raises `SpecErrors` for a space form where no value can vary."""
    tree = parse(text, path)
    errors: list[SpecError] = []
    axes: list[Axis] = []
    seen: set[str] = set()
    for declaration in tree.declarations:
        if isinstance(declaration, ast.Let) and _is_space(declaration.value):
            axis = axis_of(declaration.name, declaration.value, text, errors)
            if axis is not None and declaration.name not in seen:
                axes.append(axis)
                seen.add(declaration.name)
            for part in _options_of(declaration.value):
                _misplaced(part, errors)
            continue
        if isinstance(declaration, (ast.BlockDef, ast.ModelDef)) and declaration.name in SPACE_FORMS:
            kind = "block" if isinstance(declaration, ast.BlockDef) else "model"
            errors.append(
                SpecError(
                    code="E241",
                    message=f"'{declaration.name}' marks a search space; a {kind} needs another name",
                    span=declaration.name_span,
                    hint="a block's or a model's name cannot vary: choose between blocks with "
                    "`let mixer = choice(a(…), b(…))` and use `mixer` as a stage",
                )
            )
        _misplaced(declaration, errors)
    if errors:
        raise SpecErrors(errors, {path: text})
    uses = [d for d in tree.declarations if isinstance(d, ast.Use)]
    return Space(text, path, axes, uses)


def _is_space(expr: ast.Node) -> bool:
    return isinstance(expr, ast.CallExpr) and expr.name in SPACE_FORMS


def _options_of(value: ast.CallExpr) -> tuple[ast.Node, ...]:
    return value.args.positional + tuple(k.value for k in value.args.keyword)


def _misplaced(node: ast.Node, errors: list[SpecError]) -> None:
    """Report each `choice`/`range`/`log_range` that is not a let's whole value."""
    if isinstance(node, ast.Let) and _is_space(node.value):
        return
    if isinstance(node, (ast.CallExpr, ast.Call)) and node.name in SPACE_FORMS:
        errors.append(
            SpecError(
                code="E241",
                message=f"`{node.name}(…)` can only be a let's whole value",
                span=node.span,
                hint=f"name the searched value: `let width = {node.name}(…)` at the top of the file, then use `width`",
            )
        )
        return
    for child in ast.children(node):
        _misplaced(child, errors)


def _source(text: str, span: Span) -> str:
    lines = text.splitlines()
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1]
    parts = [lines[span.line - 1][span.col - 1 :]] + lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col - 1])
    return " ".join(part.strip() for part in parts)


def _constant(expr: ast.Node) -> int | float | None:
    """A bound of a range: a number, possibly negated or computed from numbers."""
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.Neg):
        inner = _constant(expr.operand)
        return None if inner is None else -inner
    if isinstance(expr, ast.BinOp):
        left, right = _constant(expr.left), _constant(expr.right)
        if left is None or right is None or (expr.op in ("/", "//", "%") and right == 0):
            return None
        return OPERATORS[expr.op](left, right)
    return None


def axis_of(name: str, value: ast.CallExpr, text: str, errors: list[SpecError]) -> Axis | None:
    """The axis a `choice(…)`, `range(…)` or `log_range(…)` describes, or None after recording why not."""
    args = value.args
    if value.name == "choice":
        if args.keyword:
            errors.append(
                SpecError(
                    code="E241", message="choice takes its options as a list of values", span=args.keyword[0].span
                )
            )
            return None
        if not args.positional:
            errors.append(
                SpecError(
                    code="E241",
                    message=f"'{name}' is an empty choice",
                    span=value.span,
                    hint="list the options: `choice(relu, gelu)`",
                )
            )
            return None
        numbers = [_constant(o) for o in args.positional]
        numeric = all(n is not None for n in numbers)
        options = []
        for expr, number in zip(args.positional, numbers):
            shown = _source(text, expr.span)
            option = Option(number if numeric else shown, shown, expr.span)
            if any(o.value == option.value for o in options):
                errors.append(SpecError(code="E241", message=f"choice lists {shown} twice", span=expr.span))
                return None
            options.append(option)
        return Axis(name, "choice", value.span, tuple(options))
    bounds = [_constant(o) for o in args.positional]
    step_arg = [k for k in args.keyword if k.name == "step"]
    others = [k for k in args.keyword if k.name != "step"]
    if len(bounds) != 2 or None in bounds or others:
        errors.append(
            SpecError(
                code="E241",
                message=f"{value.name} takes two numbers, its bounds: `{value.name}(lo, hi)`",
                span=value.span,
                hint="both bounds are included; `range(16, 128, step = 16)` for steps",
            )
        )
        return None
    low, high = bounds
    integer = isinstance(low, int) and isinstance(high, int)
    step = 1
    if step_arg:
        step_value = _constant(step_arg[0].value)
        if not integer or not isinstance(step_value, int) or step_value < 1:
            errors.append(
                SpecError(
                    code="E241", message="step is a positive integer, for ranges of integers", span=step_arg[0].span
                )
            )
            return None
        step = step_value
    if high < low:
        errors.append(
            SpecError(
                code="E241",
                message=f"{value.name}: the low bound {low} is above {high}",
                span=value.span,
                hint=f"swap the bounds: {value.name}({high}, {low})",
            )
        )
        return None
    if value.name == "log_range" and low <= 0:
        errors.append(SpecError(code="E241", message=f"log_range needs positive bounds, got {low}", span=value.span))
        return None
    return Axis(name, value.name, value.span, low=low, high=high, integer=integer, step=step)


def first_point(text: str, path: str) -> dict[str, Value] | None:
    """Each axis at its first value (a choice's first option, a range's low bound); None for a spec
    that is no space. An editor checks a space there."""
    axes = read_space(text, path).axes
    return {axis.name: axis.check_values()[0] for axis in axes} if axes else None


def read_space_file(path: str | Path) -> Space:
    """The space of a spec file (raises `SpecErrors` when it cannot be read)."""
    from .loader import read_source

    errors: list[SpecError] = []
    text = read_source(Path(path), errors)
    if text is None:
        raise SpecErrors(errors)
    return read_space(text, str(path))
