"""The spec AST: frozen dataclasses, each with the `Span` of the source that made it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Union

from .errors import Span


@dataclass(frozen=True, kw_only=True)
class Node:
    span: Span


def children(node: Node) -> Iterator[Node]:
    """The nodes directly inside `node`, in field order (lists of them item by item)."""
    for f in fields(node):
        value = getattr(node, f.name)
        yield from (item for item in (value if isinstance(value, tuple) else (value,)) if isinstance(item, Node))


# -- expressions (arguments, let values, dimensions, counts) ------------------------------------


@dataclass(frozen=True, kw_only=True)
class Number(Node):
    value: int | float


@dataclass(frozen=True, kw_only=True)
class String(Node):
    value: str


@dataclass(frozen=True, kw_only=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True, kw_only=True)
class Name(Node):
    """A bare word: a let, a block parameter, a bound tensor or an enum value, decided later."""

    name: str


@dataclass(frozen=True, kw_only=True)
class InRef(Node):
    """`in`: the input of the enclosing body."""


@dataclass(frozen=True, kw_only=True)
class ListExpr(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True, kw_only=True)
class BinOp(Node):
    op: str  # one of + - * / // %
    left: Expr
    right: Expr


@dataclass(frozen=True, kw_only=True)
class Neg(Node):
    operand: Expr


@dataclass(frozen=True, kw_only=True)
class CallExpr(Node):
    """`name(args)` as a value: a block call held by a let (`let mixer = lstm(64)`) or a search
    space (`choice(…)`, `range(…)`, `log_range(…)`); what the name means is decided later."""

    name: str
    name_span: Span
    args: Args


Expr = Union[Number, String, Bool, Name, InRef, ListExpr, BinOp, Neg, CallExpr]


@dataclass(frozen=True, kw_only=True)
class Kwarg(Node):
    name: str
    value: Expr


@dataclass(frozen=True, kw_only=True)
class Args(Node):
    positional: tuple[Expr, ...] = ()
    keyword: tuple[Kwarg, ...] = ()


# -- pipelines ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    """`name` or `name(args)`: a block call, a merge, or a reference to a bound value."""

    name: str
    name_span: Span
    args: Args | None  # None when written without parentheses


@dataclass(frozen=True, kw_only=True)
class Group(Node):
    pipeline: Pipeline


@dataclass(frozen=True, kw_only=True)
class Repeat(Node):
    count: Expr
    body: Body
    shared: bool = False  # `repeat N shared { … }`: every copy uses the first copy's weights


@dataclass(frozen=True, kw_only=True)
class Residual(Node):
    body: Body


@dataclass(frozen=True, kw_only=True)
class Parallel(Node):
    args: Args
    branches: tuple[Body, ...]


@dataclass(frozen=True, kw_only=True)
class BodyCall(Node):
    """A call of a block that takes bodies: `moe(top_k = 2) { a | b }`."""

    name: str
    name_span: Span
    args: Args
    branches: tuple[Body, ...]


Term = Union[Call, BodyCall, Group, InRef, Repeat, Residual, Parallel]


@dataclass(frozen=True, kw_only=True)
class Stage(Node):
    """One `->` step: a term, optionally `* count`, optionally `as alias`."""

    term: Term
    count: Expr | None = None
    shared: bool = False  # `* N shared`: every copy uses the first copy's weights
    alias: str | None = None
    alias_span: Span | None = None


@dataclass(frozen=True, kw_only=True)
class Pipeline(Node):
    stages: tuple[Stage, ...]


# -- statements ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InputType(Node):
    kind: str  # "tensor" | "tokens" | "graph"
    dims: tuple[Expr, ...]
    options: tuple[Kwarg, ...] = ()  # a graph's node and edge types: `nodes = [..]`, `edges = [..]`


@dataclass(frozen=True, kw_only=True)
class InputDecl(Node):
    name: str
    name_span: Span
    type: InputType


@dataclass(frozen=True, kw_only=True)
class OutputDecl(Node):
    names: tuple[tuple[str, Span], ...]


@dataclass(frozen=True, kw_only=True)
class Binding(Node):
    name: str
    name_span: Span
    pipeline: Pipeline


Statement = Union[InputDecl, OutputDecl, Binding, Pipeline]


@dataclass(frozen=True, kw_only=True)
class Body(Node):
    statements: tuple[Statement, ...]


# -- declarations -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Use(Node):
    path: str


@dataclass(frozen=True, kw_only=True)
class Let(Node):
    name: str
    name_span: Span
    value: Expr


@dataclass(frozen=True, kw_only=True)
class Param(Node):
    name: str
    default: Expr | None


@dataclass(frozen=True, kw_only=True)
class BlockDef(Node):
    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: Body


@dataclass(frozen=True, kw_only=True)
class ModelDef(Node):
    name: str
    name_span: Span
    body: Body


Declaration = Union[Use, Let, BlockDef, ModelDef]


@dataclass(frozen=True, kw_only=True)
class SpecFile(Node):
    path: str
    declarations: tuple[Declaration, ...]
