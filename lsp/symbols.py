"""Names in one spec file: where each is defined and every place it is used, resolved by scope.

Scopes follow LANGUAGE.md §2–3: a body sees its own bindings, then those of the bodies around it,
then its block's parameters, then the file's `let`s; a call's name is a bound value first, then a
block. Names the file does not define (primitive blocks, a `use`d file's blocks, enum words) are
left unresolved here: hover and definition look them up elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dsl import ast
from ..dsl.errors import Span
from .ranges import contains, name_span

# what each kind of symbol is, for the outline and for hover
KINDS = ("model", "block", "let", "param", "input", "bound")


@dataclass(eq=False)
class Symbol:
    name: str
    kind: str  # one of KINDS
    span: Span  # the name where it is defined
    whole: Span  # the whole declaration (a block's body, a binding's line)
    container: Symbol | None = None
    children: list[Symbol] = field(default_factory=list)
    references: list[Span] = field(default_factory=list)

    @property
    def occurrences(self) -> list[Span]:
        """The definition and every use, in source order."""
        return sorted([self.span, *self.references], key=lambda s: (s.line, s.col))


@dataclass
class CallSite:
    """A block call (or a use of a bound value) in a pipeline, with what its name resolved to."""

    call: ast.Call
    symbol: Symbol | None
    container: Symbol | None
    next_call: ast.Call | None  # the call of the stage that reads this one's output, if any
    alias: str | None  # the name the stage is bound to (`as h`, or `h = …` for a pipeline's last stage)
    repeated: bool  # under `* N` or inside `repeat`: one call, several instances


@dataclass
class SymbolIndex:
    symbols: list[Symbol] = field(default_factory=list)  # top-level declarations, in source order
    occurrences: list[tuple[Span, Symbol]] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    uses: list[ast.Use] = field(default_factory=list)
    unresolved: list[Span] = field(default_factory=list)  # names in values this file does not define

    def unresolved_at(self, line: int, col: int) -> Span | None:
        """A name in a value (`width` in `dense(width)`) that some used file may define."""
        return next((s for s in self.unresolved if contains(s, line, col)), None)

    def at(self, line: int, col: int) -> tuple[Span, Symbol] | None:
        """The named symbol whose definition or use covers (line, col)."""
        return next(((s, sym) for s, sym in self.occurrences if contains(s, line, col)), None)

    def call_at(self, line: int, col: int) -> CallSite | None:
        return next((site for site in self.calls if contains(site.call.name_span, line, col)), None)

    def top(self, kind: str) -> dict[str, Symbol]:
        return {s.name: s for s in self.symbols if s.kind == kind}

    def enclosing(self, line: int) -> Symbol | None:
        """The model or block whose declaration spans `line`."""
        return next(
            (s for s in self.symbols if s.kind in ("model", "block") and s.whole.line <= line <= s.whole.end_line), None
        )


@dataclass
class _Scope:
    values: dict[str, Symbol]
    parent: _Scope | None

    def value(self, name: str) -> Symbol | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        return None


def index_file(tree: ast.SpecFile) -> SymbolIndex:
    return _Indexer(tree).index


class _Indexer:
    def __init__(self, tree: ast.SpecFile):
        self.index = SymbolIndex()
        self.lets: dict[str, Symbol] = {}
        self.repeats = 0  # how many `* N` / `repeat` the walk is inside
        self.blocks: dict[str, Symbol] = {}
        for decl in tree.declarations:  # declarations first, so a use before its definition resolves
            if isinstance(decl, ast.Use):
                self.index.uses.append(decl)
                continue
            kind = {ast.Let: "let", ast.BlockDef: "block", ast.ModelDef: "model"}[type(decl)]
            symbol = self.define(decl.name, kind, decl.name_span, decl.span, None)
            self.index.symbols.append(symbol)
            table = {"let": self.lets, "block": self.blocks}.get(kind)
            if table is not None:
                table.setdefault(decl.name, symbol)
        file_scope = _Scope(dict(self.lets), None)
        for decl, symbol in zip([d for d in tree.declarations if not isinstance(d, ast.Use)], self.index.symbols):
            if isinstance(decl, ast.Let):
                self.expr(decl.value, file_scope)
            elif isinstance(decl, ast.BlockDef):
                params = _Scope({}, file_scope)
                for param in decl.params:
                    if param.default is not None:  # defaults see earlier parameters
                        self.expr(param.default, params)
                    params.values[param.name] = self.define(
                        param.name, "param", name_span(param.span, param.name), param.span, symbol
                    )
                self.body(decl.body, _Scope({}, params), symbol)
            else:
                scope = _Scope({}, file_scope)
                self.body(decl.body, scope, symbol)
                for statement in decl.body.statements:  # outputs name the model's values, wherever written
                    if isinstance(statement, ast.OutputDecl):
                        for name, span in statement.names:
                            self.refer(scope.value(name), span)
        self.index.occurrences.sort(key=lambda item: (item[0].line, item[0].col))

    def define(self, name: str, kind: str, span: Span, whole: Span, container: Symbol | None) -> Symbol:
        symbol = Symbol(name=name, kind=kind, span=span, whole=whole, container=container)
        if container is not None:
            container.children.append(symbol)
        self.index.occurrences.append((span, symbol))
        return symbol

    def refer(self, symbol: Symbol | None, span: Span) -> None:
        if symbol is not None:
            symbol.references.append(span)
            self.index.occurrences.append((span, symbol))

    def body(self, body: ast.Body, scope: _Scope, container: Symbol) -> None:
        for statement in body.statements:
            if isinstance(statement, ast.InputDecl):
                for dim in statement.type.dims:
                    self.expr(dim, scope)
                scope.values[statement.name] = self.define(
                    statement.name, "input", statement.name_span, statement.span, container
                )
            elif isinstance(statement, ast.Binding):
                self.pipeline(statement.pipeline, scope, container, statement.name)
                scope.values[statement.name] = self.define(
                    statement.name, "bound", statement.name_span, statement.span, container
                )
            elif isinstance(statement, ast.Pipeline):
                self.pipeline(statement, scope, container, None)

    def pipeline(self, pipeline: ast.Pipeline, scope: _Scope, container: Symbol, bound_to: str | None) -> None:
        stages = pipeline.stages
        for i, stage in enumerate(stages):
            following = stages[i + 1].term if i + 1 < len(stages) else None
            alias = stage.alias or (bound_to if i == len(stages) - 1 else None)
            self.repeats += stage.count is not None
            self.term(stage.term, scope, container, following if isinstance(following, ast.Call) else None, alias)
            self.repeats -= stage.count is not None
            if stage.count is not None:
                self.expr(stage.count, scope)
            if stage.alias is not None and stage.alias_span is not None:
                scope.values[stage.alias] = self.define(stage.alias, "bound", stage.alias_span, stage.span, container)

    def term(self, term, scope: _Scope, container: Symbol, following: ast.Call | None, alias: str | None) -> None:
        if isinstance(term, ast.Call):
            target = scope.value(term.name)
            if target is None or target.kind == "let":  # a block, else a let of blocks (`choice(relu, gelu)`)
                target = self.blocks.get(term.name, target)
            self.refer(target, term.name_span)
            self.index.calls.append(CallSite(term, target, container, following, alias, self.repeats > 0))
            if term.args is not None:
                self.args(term.args, scope)
        elif isinstance(term, ast.Group):
            self.pipeline(term.pipeline, scope, container, alias)
        elif isinstance(term, ast.Repeat):
            self.expr(term.count, scope)
            self.repeats += 1
            self.body(term.body, _Scope({}, scope), container)
            self.repeats -= 1
        elif isinstance(term, ast.Residual):
            self.body(term.body, _Scope({}, scope), container)
        elif isinstance(term, (ast.Parallel, ast.BodyCall)):
            self.args(term.args, scope)
            for branch in term.branches:
                self.body(branch, _Scope({}, scope), container)

    def args(self, args: ast.Args, scope: _Scope) -> None:
        for expr in args.positional:
            self.expr(expr, scope)
        for kwarg in args.keyword:
            self.expr(kwarg.value, scope)

    def expr(self, expr, scope: _Scope) -> None:
        if isinstance(expr, ast.Name):
            symbol = scope.value(expr.name)
            self.refer(symbol, expr.span)
            if symbol is None:
                self.index.unresolved.append(expr.span)
        elif isinstance(expr, ast.BinOp):
            self.expr(expr.left, scope)
            self.expr(expr.right, scope)
        elif isinstance(expr, ast.Neg):
            self.expr(expr.operand, scope)
        elif isinstance(expr, ast.ListExpr):
            for item in expr.items:
                self.expr(item, scope)
