"""Evaluating expressions: let values, block parameters, arguments, counts and input dimensions.

Values are plain Python (int, float, bool, str, list) plus `Word` — a bare name that is neither a
constant nor a bound value, kept for enum arguments (`pad = same`) — and `TensorRef` — a bound
value passed by name (`memory = mem`). In input types an unknown name is a run-time size symbol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..blocks.dims import Poly
from ..dsl import ast
from ..dsl.errors import Span, SpecError, did_you_mean
from .binding_sites import size_hint
from .loader import SpecModule


@dataclass(frozen=True)
class Word:
    """A bare word: an enum value (`mean`), or a name that is not bound where it was written."""

    name: str
    span: Span
    values: Bindings | None = field(default=None, compare=False, repr=False)  # bound where it was written


@dataclass(frozen=True)
class TensorRef:
    """A bound value named in an argument: `node` is the graph node that produces it."""

    name: str
    node: str
    span: Span


@dataclass(frozen=True)
class BlockValue:
    """A block call held by a let (`let mixer = lstm(64)`), used as a stage (`x -> mixer`): its
    arguments are evaluated where the let is defined, when the stage is built."""

    name: str
    args: ast.Args
    span: Span
    module: SpecModule

    def __str__(self) -> str:
        return f"{self.name}(…)"


SPACE_FORMS = ("choice", "range", "log_range")  # compiler/space.py fixes them before a spec is built


class EvalError(Exception):
    def __init__(self, error: SpecError):
        super().__init__(error.message)
        self.error = error


MAX_LET_DEPTH = 100  # a let whose value needs a let whose value needs a let … (docs/errors.md, E218)


class LetTable:
    """The lets a file sees, evaluated on first use, with cycles reported."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], Any] = {}
        self._active: list[tuple[str, str]] = []
        self._failed: dict[tuple[str, str], SpecError] = {}  # cycles, chains cut for depth: reported once

    def lookup(self, module: SpecModule, name: str, span: Span) -> tuple[bool, Any]:
        found = module.find("lets", name)
        if not found:
            return False, None
        if len(found) > 1:
            files = ", ".join(m.path for m, _ in found)
            raise EvalError(
                SpecError(
                    code="E214",
                    message=f"'{name}' is defined by more than one used file: {files}",
                    span=span,
                    hint="define it in this file to choose one",
                )
            )
        owner, let = found[0]
        key = (owner.path, name)
        if key in self._values:
            return True, self._values[key]
        if key in self._failed:
            raise EvalError(self._failed[key])
        if key in self._active:
            cycle = self._active[self._active.index(key) :]
            chain = " -> ".join(n for _, n in cycle + [key])
            error = SpecError(code="E215", message=f"let '{name}' depends on itself: {chain}", span=let.span)
            self._failed.update(dict.fromkeys(cycle, error))  # one cycle, one error: its other lets repeat it
            raise EvalError(error)
        if len(self._active) >= MAX_LET_DEPTH:  # each level costs Python frames: stop before they run out
            raise EvalError(
                SpecError(
                    code="E218",
                    message=f"lets depend on lets more than {MAX_LET_DEPTH} deep here ('{name}')",
                    span=let.span,
                    hint="compute the value in fewer steps",
                )
            )
        self._active.append(key)
        try:
            value = evaluate(let.value, Scope(owner, {}, self))
        except EvalError as failure:
            if failure.error.code == "E218":  # else every let of a long chain would report its own cut
                self._failed[key] = failure.error
            raise
        finally:
            self._active.pop()
        self._values[key] = value
        return True, value


class Bindings:
    """Bound values (name -> graph node) of a body; a `{ }` body sees its enclosing body's too."""

    def __init__(self, parent: Bindings | None = None):
        self.parent = parent
        self.local: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        scope: Bindings | None = self
        while scope is not None:
            if name in scope.local:
                return scope.local[name]
            scope = scope.parent
        return None

    def names(self) -> set[str]:
        return set(self.local) | (self.parent.names() if self.parent else set())


@dataclass
class Scope:
    """Names visible at one point: block parameters, bound values, then the defining file's lets."""

    module: SpecModule
    params: dict[str, Any]
    lets: LetTable
    values: Bindings = field(default_factory=Bindings)
    symbols: bool = False  # unknown names become run-time size symbols (input types)

    def lookup(self, name: str, span: Span) -> Any:
        if name in self.params:
            return self.params[name]
        node = self.values.get(name)
        if node is not None:
            return TensorRef(name, node, span)
        found, value = self.lets.lookup(self.module, name, span)
        if found:
            return value
        return Poly.symbol(name) if self.symbols else Word(name, span, self.values)

    def known_names(self) -> set[str]:
        return set(self.params) | self.module.visible("lets")

    def known_values(self) -> set[str]:
        return self.values.names() - {"in"}


OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def evaluate(expr: ast.Expr, scope: Scope) -> Any:
    if isinstance(expr, (ast.Number, ast.String, ast.Bool)):
        return expr.value
    if isinstance(expr, ast.Name):
        return scope.lookup(expr.name, expr.span)
    if isinstance(expr, ast.ListExpr):
        return [evaluate(item, scope) for item in expr.items]
    if isinstance(expr, ast.InRef):
        node = scope.values.get("in")
        if node is None:
            raise EvalError(
                SpecError(code="E212", message="`in` is only defined inside a block or `{ }` body", span=expr.span)
            )
        return TensorRef("in", node, expr.span)
    if isinstance(expr, ast.Neg):
        return _arith("-", 0, evaluate(expr.operand, scope), expr, scope)
    if isinstance(expr, ast.BinOp):
        return _arith(expr.op, evaluate(expr.left, scope), evaluate(expr.right, scope), expr, scope)
    if isinstance(expr, ast.CallExpr):
        if expr.name in SPACE_FORMS:
            raise EvalError(
                SpecError(
                    code="E240",
                    message=f"`{expr.name}(…)` makes this spec a search space: fix a point before building it",
                    span=expr.span,
                    hint="`cramnet check` checks every point, `cramnet sweep` searches them; "
                    "from Python: check_spec(…, choices={…})",
                )
            )
        return BlockValue(expr.name, expr.args, expr.span, scope.module)
    raise TypeError(f"not an expression: {expr!r}")


def _arith(op: str, left: Any, right: Any, expr: ast.Node, scope: Scope) -> Any:
    for value in (left, right):
        if isinstance(value, Word):
            raise EvalError(unknown_name(value.name, value.span, scope.known_names(), scope.module))
        if isinstance(value, TensorRef):
            raise EvalError(
                SpecError(
                    code="E304", message=f"'{value.name}' is a tensor; arithmetic works on numbers", span=value.span
                )
            )
        if not isinstance(value, (int, float, Poly)) or isinstance(value, bool):
            shown = "true" if value is True else "false" if value is False else repr(value)
            raise EvalError(SpecError(code="E304", message=f"cannot use {shown} in arithmetic", span=expr.span))
    if op in ("/", "//", "%") and right == 0:
        raise EvalError(SpecError(code="E305", message="division by zero", span=expr.span))
    if isinstance(left, Poly) or isinstance(right, Poly):
        if op not in ("+", "-", "*", "//") or isinstance(left, float) or isinstance(right, float):
            raise EvalError(
                SpecError(
                    code="E304",
                    message=f"'{op}' is not defined for run-time sizes",
                    span=expr.span,
                    hint="run-time sizes support + - * and //",
                )
            )
    try:
        result = OPERATORS[op](left, right)
    except OverflowError:
        raise EvalError(SpecError(code="E104", message="number too large", span=expr.span)) from None
    if isinstance(result, int) and abs(result) > 10**18:
        raise EvalError(SpecError(code="E104", message=f"number too large: {result}", span=expr.span))
    if isinstance(result, float) and not math.isfinite(result):
        raise EvalError(SpecError(code="E104", message="number too large", span=expr.span))
    return result


def unknown_name(name: str, span: Span, candidates: set[str], module: SpecModule | None = None) -> SpecError:
    return SpecError(
        code="E205",
        message=f"unknown name '{name}'",
        span=span,
        hint=literal_hint(name)
        or (module is not None and size_hint(module, name, span))
        or did_you_mean(name, candidates)
        or "define it with `let`, bind it, or pass it as a parameter",
    )


def literal_hint(name: str) -> str | None:
    """`True`, `False`, `None` from Python habit: the language's words are lower case."""
    if name != name.lower() and name.lower() in ("true", "false", "none"):
        return f"did you mean '{name.lower()}'? true, false and none are written in lower case"
    return None
