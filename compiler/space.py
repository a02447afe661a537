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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..dsl import ast
from ..dsl.errors import Span, SpecError, SpecErrors, did_you_mean

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
