"""Text to AST: the Lark parser, a newline post-lexer, and a transformer named after the rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from lark import Lark, Token, Transformer_NonRecursive, Tree, v_args
from lark.exceptions import UnexpectedInput, VisitError

from . import ast
from .errors import Span, SpecError, SpecErrors
from .syntax_errors import describe_syntax_error

# Limits on what one spec may ask of the reader (docs/errors.md, E105): every pass after the parser
# walks the tree recursively, and these keep it far from Python's recursion limit.
MAX_NESTING = 50  # `( )` groups and `{ }` bodies inside one another
MAX_EXPRESSION_DEPTH = 200  # operators and lists inside one another (`1 + 1 + …` is one per term)
MAX_SPEC_BYTES = 1 << 20  # one spec file; repetition belongs in `* N`, not in pasted text

_NESTING_RULES = {"group", "repeat", "residual", "parallel", "body_call"}
_EXPRESSION_RULES = {"add", "sub", "mul", "div", "floordiv", "mod", "neg", "list"}


class _LineBreaks:
    """Post-lexer: drops newlines inside ( ) and [ ], where a line break never ends a statement.

    It never holds a token back: Lark's contextual lexer reads each token in the parser state
    left by the one before. Newlines next to `->` are taken into the `_ARROW` token by the grammar.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        nesting: list[str] = []
        for token in stream:
            if token.type == "_NL" and nesting and nesting[-1] in "([":
                continue
            if token.type in ("LPAR", "LSQB", "LBRACE"):
                nesting.append(token.value)
            elif token.type in ("RPAR", "RSQB", "RBRACE") and nesting:
                nesting.pop()
            yield token


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark.open(
        "grammar.lark",
        rel_to=__file__,
        parser="lalr",
        propagate_positions=True,
        postlex=_LineBreaks(),
        maybe_placeholders=False,
    )


def parse(text: str, path: str = "<spec>") -> ast.SpecFile:
    """Parse spec source into an AST; raises `SpecErrors` with a friendly message on bad syntax."""
    return _parse(text, path)


# The AST is immutable, so a text parsed again (a spec checked once per model, a standard-library
# file each check, an editor's buffer on every request) can share the tree; mistakes are not kept.
@lru_cache(maxsize=16)
def _parse(text: str, path: str) -> ast.SpecFile:
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        raise SpecErrors([describe_syntax_error(error, text, path, _lark().parse)], {path: text}) from None
    too_deep = _too_deep(tree, path)
    if too_deep is not None:
        raise SpecErrors([too_deep], {path: text})
    try:
        return _ToAst(path).transform(tree)
    except VisitError as error:  # a literal the AST refuses (an integer too large, say)
        if isinstance(error.orig_exc, SpecErrors):
            error.orig_exc.sources[path] = text
            raise error.orig_exc from None
        raise


def _too_deep(tree: Tree, path: str) -> SpecError | None:
    """The first construct nested past MAX_NESTING or MAX_EXPRESSION_DEPTH, as an error; walked
    with a stack of its own, since a recursive walk would fail on exactly the trees it looks for."""
    stack = [(tree, 0, 0)]
    while stack:
        node, nesting, depth = stack.pop()
        nesting += node.data in _NESTING_RULES
        depth += node.data in _EXPRESSION_RULES
        if nesting > MAX_NESTING or depth > MAX_EXPRESSION_DEPTH:
            what, limit = (
                ("bodies and groups", MAX_NESTING)
                if nesting > MAX_NESTING
                else ("operators and lists", MAX_EXPRESSION_DEPTH)
            )
            meta = node.meta
            return SpecError(
                code="E105",
                message=f"{what} are nested more than {limit} deep here",
                span=Span(file=path, line=meta.line, col=meta.column, end_line=meta.line, end_col=meta.column + 1),
                hint="flatten it: repeat with `* N` or `repeat N { … }`, name parts with `let` or `block`",
            )
        stack.extend((child, nesting, depth) for child in node.children if isinstance(child, Tree))
    return None


def token_span(path: str, token: Token) -> Span:
    return Span(file=path, line=token.line, col=token.column, end_line=token.end_line, end_col=token.end_column)


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """One method per grammar rule; each returns the AST node for that rule (built bottom-up with a
    stack, so a long chain like `1 + 1 + …` never nests Python calls)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _span(self, meta) -> Span:
        return Span(file=self.path, line=meta.line, col=meta.column, end_line=meta.end_line, end_col=meta.end_column)

    def _tok(self, token: Token) -> Span:
        return token_span(self.path, token)

    # declarations
    def start(self, meta, children):
        span = self._span(meta) if not meta.empty else Span(file=self.path, line=1, col=1, end_line=1, end_col=1)
        return ast.SpecFile(span=span, path=self.path, declarations=tuple(children))

    def use(self, meta, children):
        return ast.Use(span=self._span(meta), path=_unquote(children[0]))

    def let(self, meta, children):
        name, value = children
        return ast.Let(span=self._span(meta), name=str(name), name_span=self._tok(name), value=value)

    def block_def(self, meta, children):
        name, *params, body = children
        return ast.BlockDef(
            span=self._span(meta), name=str(name), name_span=self._tok(name), params=tuple(params), body=body
        )

    def param(self, meta, children):
        default = children[1] if len(children) > 1 else None
        return ast.Param(span=self._span(meta), name=str(children[0]), default=default)

    def model_def(self, meta, children):
        name, body = children
        return ast.ModelDef(span=self._span(meta), name=str(name), name_span=self._tok(name), body=body)

    # statements
    def body(self, meta, children):
        span = self._span(meta) if not meta.empty else None
        return ast.Body(
            span=span or Span(file=self.path, line=0, col=0, end_line=0, end_col=0), statements=tuple(children)
        )

    def input_decl(self, meta, children):
        name, input_type = children
        return ast.InputDecl(span=self._span(meta), name=str(name), name_span=self._tok(name), type=input_type)

    def _input_type(self, kind, meta, children):
        return ast.InputType(span=self._span(meta), kind=kind, dims=children[0])

    def tensor_type(self, meta, children):
        return self._input_type("tensor", meta, children)

    def tokens_type(self, meta, children):
        return self._input_type("tokens", meta, children)

    def graph_type(self, meta, children):
        (args,) = children
        return ast.InputType(span=self._span(meta), kind="graph", dims=args.positional, options=args.keyword)

    def dims(self, meta, children):
        return tuple(children)

    def output_decl(self, meta, children):
        return ast.OutputDecl(span=self._span(meta), names=tuple((str(t), self._tok(t)) for t in children))

    def binding(self, meta, children):
        name, pipeline = children
        return ast.Binding(span=self._span(meta), name=str(name), name_span=self._tok(name), pipeline=pipeline)

    # pipelines
    def pipeline(self, meta, children):
        return ast.Pipeline(span=self._span(meta), stages=tuple(children))

    def stage(self, meta, children):
        term, *rest = children
        count = alias = alias_span = None
        shared = False
        for item in rest:
            if isinstance(item, Token) and item.type == "SHARED":
                shared = True
            elif isinstance(item, Token):
                alias, alias_span = str(item), self._tok(item)
            elif item is not None:
                count = item
        return ast.Stage(
            span=self._span(meta), term=term, count=count, shared=shared, alias=alias, alias_span=alias_span
        )

    def count(self, meta, children):
        (item,) = children
        if isinstance(item, Token):
            return self.int(meta, [item]) if item.type == "INT" else self.name(meta, [item])
        return item

    def call(self, meta, children):
        name, *rest = children
        args = rest[0] if rest else None
        if args is None and (meta.end_line, meta.end_column) != (name.end_line, name.end_column):
            args = ast.Args(span=self._span(meta))  # written as `name()`
        return ast.Call(span=self._span(meta), name=str(name), name_span=self._tok(name), args=args)

    def group(self, meta, children):
        return ast.Group(span=self._span(meta), pipeline=children[0])

    def in_ref(self, meta, children):
        return ast.InRef(span=self._span(meta))

    def repeat(self, meta, children):
        count, *shared, body = children  # `shared` is there or not (no placeholders)
        return ast.Repeat(span=self._span(meta), count=count, body=body, shared=bool(shared))

    def residual(self, meta, children):
        return ast.Residual(span=self._span(meta), body=children[0])

    def parallel(self, meta, children):
        *args, branches = children
        return ast.Parallel(
            span=self._span(meta), args=args[0] if args else ast.Args(span=self._span(meta)), branches=branches
        )

    def body_call(self, meta, children):
        name, *args, branches = children
        return ast.BodyCall(
            span=self._span(meta),
            name=str(name),
            name_span=self._tok(name),
            args=args[0] if args else ast.Args(span=self._span(meta)),
            branches=branches,
        )

    def branches(self, meta, children):
        return tuple(children)

    def args(self, meta, children):
        positional = tuple(c for c in children if not isinstance(c, ast.Kwarg))
        keyword = tuple(c for c in children if isinstance(c, ast.Kwarg))
        return ast.Args(span=self._span(meta), positional=positional, keyword=keyword)

    def kwarg(self, meta, children):
        name, value = children
        return ast.Kwarg(span=self._span(meta), name=str(name), value=value)

    # expressions
    def _binop(self, op, meta, children):
        left, right = children
        return ast.BinOp(span=self._span(meta), op=op, left=left, right=right)

    def add(self, meta, children):
        return self._binop("+", meta, children)

    def sub(self, meta, children):
        return self._binop("-", meta, children)

    def mul(self, meta, children):
        return self._binop("*", meta, children)

    def div(self, meta, children):
        return self._binop("/", meta, children)

    def floordiv(self, meta, children):
        return self._binop("//", meta, children)

    def mod(self, meta, children):
        return self._binop("%", meta, children)

    def neg(self, meta, children):
        return ast.Neg(span=self._span(meta), operand=children[0])

    def int(self, meta, children):
        token = children[0]
        if len(token) > 18:
            raise SpecErrors([SpecError(code="E104", message=f"integer {token} is too large", span=self._tok(token))])
        return ast.Number(span=self._tok(token), value=int(token))

    def float(self, meta, children):
        token = children[0]
        value = float(token)
        if value in (float("inf"), float("-inf")):
            raise SpecErrors([SpecError(code="E104", message=f"number {token} is too large", span=self._tok(token))])
        return ast.Number(span=self._tok(token), value=value)

    def string(self, meta, children):
        return ast.String(span=self._tok(children[0]), value=_unquote(children[0]))

    def true(self, meta, children):
        return ast.Bool(span=self._span(meta), value=True)

    def false(self, meta, children):
        return ast.Bool(span=self._span(meta), value=False)

    def name(self, meta, children):
        return ast.Name(span=self._tok(children[0]), name=str(children[0]))

    def call_expr(self, meta, children):
        name, *rest = children
        args = rest[0] if rest else ast.Args(span=self._span(meta))
        return ast.CallExpr(span=self._span(meta), name=str(name), name_span=self._tok(name), args=args)

    def list(self, meta, children):
        return ast.ListExpr(span=self._span(meta), items=tuple(children))


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: Token) -> str:
    """The string's value: quotes removed, and the escapes \\n \\t \\" \\\\ decoded."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), token[1:-1])
