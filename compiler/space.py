"""Search spaces: the `choice(…)`, `range(lo, hi)` and `log_range(lo, hi)` values of a spec's lets.

A spec with such lets is a *space*; a *point* fixes each of them (`{"act": "gelu", "width": 64}`).
A point is written into the source text — the let's value replaced by the chosen option's own text —
so the fixed spec is an ordinary spec: it checks, trains and formats like any other, and an error in
it shows the chosen value in place. Line numbers are kept, so every other location is unchanged.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Union

from ..dsl import ast, parse
from ..dsl.errors import Span, SpecError, SpecErrors, did_you_mean
from .evaluate import SPACE_FORMS

Value = Union[int, float, str, bool]


@dataclass(frozen=True)
class Option:
    """One value of a `choice`: `value` is what a sampler stores (a number, else the option's text)."""

    value: Value
    text: str
    span: Span


@dataclass(frozen=True)
class Axis:
    """One searched let (or config key): a `choice` of options, or a numeric (log-)range, bounds included."""

    name: str
    kind: str  # "choice" | "range" | "log_range"
    span: Span
    options: tuple[Option, ...] = ()
    low: float = 0
    high: float = 0
    integer: bool = False
    step: int = 1

    @property
    def size(self) -> float:
        """How many values the axis holds (`math.inf` for a range of floats)."""
        if self.kind == "choice":
            return len(self.options)
        if not self.integer:
            return math.inf if self.high > self.low else 1
        return (int(self.high) - int(self.low)) // self.step + 1

    def check_values(self) -> list[Value]:
        """The values `cramnet check` tries: every option, or a range's two bounds."""
        if self.kind == "choice":
            return [option.value for option in self.options]
        return [self.low] if self.high == self.low else [self.low, self.high]

    def describe(self) -> str:
        if self.kind == "choice":
            return "choice(" + ", ".join(o.text for o in self.options) + ")"
        step = f", step = {self.step}" if self.step != 1 else ""
        return f"{self.kind}({_number(self.low)}, {_number(self.high)}{step})"

    def option(self, value: Any) -> Option | None:
        """The option a value names: by its value (a number) or by its text (`"lstm(24)"`, `"32"`)."""
        for option in self.options:
            if (option.value == value and not isinstance(value, bool)) or option.text == value:
                return option
        return None

    def text_of(self, value: Value) -> str:
        """The source text a chosen value is written as."""
        if self.kind == "choice":
            return self.option(value).text
        return _number(value)

    def admits(self, value: Any) -> bool:
        if self.kind == "choice":
            return self.option(value) is not None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and (value != int(value) or (int(value) - int(self.low)) % self.step):
            return False
        return self.low <= value <= self.high


@dataclass
class Space:
    """A spec's source, its axes (in source order) and where the lets' values lie in the text."""

    text: str
    path: str
    axes: list[Axis]
    uses: list[ast.Use]

    @property
    def size(self) -> float:
        return math.prod(axis.size for axis in self.axes) if self.axes else 1

    def fix(self, point: Mapping[str, Any], out_dir: Path | None = None) -> str:
        """The source with the point's values written in (every axis must be given). With `out_dir`,
        relative `use` paths are rewritten to reach the same files from there (for `best.cram`)."""
        errors = []
        edits: list[tuple[Span, str]] = []
        for axis in self.axes:
            if axis.name not in point:
                errors.append(SpecError(code="E242", message=f"no value chosen for '{axis.name}'", span=axis.span))
            elif not axis.admits(point[axis.name]):
                shown = point[axis.name]
                errors.append(
                    SpecError(
                        code="E242",
                        message=f"'{axis.name}' cannot be {shown!r}: it is {axis.describe()}",
                        span=axis.span,
                        hint=did_you_mean(str(shown), {o.text for o in axis.options}) if axis.options else None,
                    )
                )
            else:
                edits.append((axis.span, axis.text_of(point[axis.name])))
        unknown = set(point) - {axis.name for axis in self.axes}
        for name in sorted(unknown):
            errors.append(
                SpecError(
                    code="E242",
                    message=f"'{name}' is not a choice of {self.path}",
                    hint=did_you_mean(name, {a.name for a in self.axes})
                    or "searched lets: " + (", ".join(a.name for a in self.axes) or "none"),
                )
            )
        if errors:
            raise SpecErrors(errors, {self.path: self.text})
        if out_dir is not None:
            base = Path(self.path).resolve().parent
            for use in self.uses:
                if not use.path.startswith("std:") and not Path(use.path).is_absolute():
                    target = Path(_relative(base / use.path, out_dir.resolve()))
                    edits.append((use.span, f'use "{target.as_posix()}"'))
        return splice(self.text, edits)

    def check_points(self, limit: int, seed: int = 0) -> tuple[list[dict[str, Value]], int]:
        """Points for `cramnet check`: every combination of the axes' check values, or `limit` of them
        sampled (a seeded sample) when there are more. Returns (points, number of combinations)."""
        values = [axis.check_values() for axis in self.axes]
        total = math.prod(len(v) for v in values)
        names = [axis.name for axis in self.axes]
        if total <= limit:
            return [dict(zip(names, combo)) for combo in itertools.product(*values)], total
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(total), limit))
        return [dict(zip(names, _nth(values, index))) for index in picked], total


def _nth(values: list[list], index: int) -> list:
    combo = []
    for options in reversed(values):
        index, position = divmod(index, len(options))
        combo.append(options[position])
    return combo[::-1]


def _relative(target: Path, start: Path) -> str:
    import os

    return os.path.relpath(target, start)


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def splice(text: str, edits: list[tuple[Span, str]]) -> str:
    """`text` with each span replaced; a replacement shorter in lines is padded with line breaks so
    that the lines after it keep their numbers."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col - 1

    for span, new in sorted(edits, key=lambda edit: (edit[0].line, edit[0].col), reverse=True):
        lost = (span.end_line - span.line) - new.count("\n")
        text = (
            text[: offset(span.line, span.col)]
            + new
            + "\n" * max(lost, 0)
            + text[offset(span.end_line, span.end_col) :]
        )
    return text


# -- reading a space ------------------------------------------------------------------------------


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


def _children(node: Any) -> Iterator[ast.Node]:
    for f in fields(node):
        value = getattr(node, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, ast.Node) and not isinstance(item, Span):
                yield item


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
    for child in _children(node):
        _misplaced(child, errors)


def _source(text: str, span: Span) -> str:
    lines = text.splitlines()
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1]
    parts = [lines[span.line - 1][span.col - 1 :]] + lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col - 1])
    return " ".join(part.strip() for part in parts)


_ARITHMETIC = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


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
        return _ARITHMETIC[expr.op](left, right)
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
            SpecError(code="E241", message=f"{value.name}: the low bound {low} is above {high}", span=value.span)
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
