"""`cramnet fmt`: a spec printed in one canonical layout, its comments kept, its meaning unchanged.

The layout: four spaces per level; one space around `=`, `->`, `*` and the operators, after
commas and inside `{ … }` written on one line; at most one blank line in a row, and one between a
`block` or `model` and what surrounds it. The author's line breaks between pipeline stages,
between arguments and around `{ }` bodies are kept (a broken pipeline's `->` lines up under its
first arrow, or two spaces in when its first line has none), and so are number and string
literals as written. Comments stay on their line; a trailing one sits two spaces after its code,
and the trailing comments of consecutive lines line up, two spaces after the longest line's code.

Line breaks are the file's own: CRLF if its first line ends in one, else LF.

The printer works from the AST, so it can only write what the parser read. `format_spec` checks
its own output before returning it: the output must parse to the same AST (spans aside) and keep
every comment, or it raises `FormatError` and the file is left alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import ast
from .errors import SpecError, SpecErrors
from .parser import MAX_SPEC_BYTES, parse

INDENT = 4
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}
_NEVER = 10**9


class FormatError(RuntimeError):
    """The formatter would have changed what the spec means, or dropped a comment (a bug)."""


@dataclass(frozen=True)
class Comment:
    line: int
    col: int  # 1-based column of `#`
    text: str
    own_line: bool  # nothing but whitespace before it


def format_spec(text: str, path: str = "<spec>") -> str:
    """The canonical layout of `text`; raises `SpecErrors` if it does not parse."""
    tree = parse(text, path)
    result = _Printer(text).file(tree)
    first = text.find("\n")
    if first > 0 and text[first - 1] == "\r":  # a CRLF file stays CRLF: its first line break says which it uses
        result = result.replace("\n", "\r\n")
    if without_spans(parse(result, path)) != without_spans(tree) or [c.text for c in comments(result)] != [
        c.text for c in comments(text)
    ]:
        raise FormatError(f"{path}: formatting would change the spec; it was left as it is (please report this)")
    return result


def comments(text: str) -> list[Comment]:
    """Every `#` comment outside a string, in source order."""
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        in_string, i = False, 0
        while i < len(line):
            char = line[i]
            if in_string:
                if char == "\\":
                    i += 1
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "#":
                found.append(Comment(number, i + 1, line[i:].rstrip(), not line[:i].strip()))
                break
            i += 1
    return found


def without_spans(node):
    """An AST as nested tuples with every span left out: equal when two specs mean the same."""
    if isinstance(node, tuple):
        return tuple(without_spans(n) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = [
            (f.name, without_spans(getattr(node, f.name)))
            for f in dataclasses.fields(node)
            if f.name not in ("span", "name_span", "alias_span")
        ]
        if isinstance(node, ast.OutputDecl):
            fields = [("names", tuple(name for name, _ in node.names))]
        return (type(node).__name__, tuple(fields))
    return node


class _Printer:
    def __init__(self, text: str):
        self.source = text.split("\n")
        self.blank = {i for i, line in enumerate(self.source, start=1) if not line.strip()}
        self.pending = comments(text)
        self.lines: list[str] = []
        self.current = ""
        self.indent = 0  # the logical indent of the current line: where a `{ }` body's `}` goes
        self.started = False
        self.trailing: dict[int, str] = {}  # index in `lines` -> the comment that ends that line

    # -- the text being written ---------------------------------------------------------------
    def write(self, text: str) -> None:
        self.current += text
        self.started = True

    @property
    def col(self) -> int:
        return len(self.current)

    def newline(self) -> None:
        self.lines.append(self.current.rstrip())
        self.current = ""

    def blank_line(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def brk(
        self, line: int, indent: int, comment_indent: int | None = None, blanks: bool = True, force_blank: bool = False
    ) -> None:
        """End the current line and start one at `indent` for a construct from source `line`;
        comments from the lines before it are written first, a trailing one on the current line."""
        if self.pending and self.pending[0].line < line and not self.pending[0].own_line and self.current.strip():
            self.trailing[len(self.lines)] = self.pending.pop(0).text  # the line newline() writes next
        if self.started:
            self.newline()
        first = True
        while self.pending and self.pending[0].line < line:
            comment = self.pending.pop(0)
            if blanks and ((force_blank and first) or comment.line - 1 in self.blank):
                self.blank_line()
            first = False
            self.lines.append(" " * (indent if comment_indent is None else comment_indent) + comment.text)
        if blanks and ((force_blank and first) or line - 1 in self.blank):
            self.blank_line()
        self.current = " " * indent
        self.indent = indent
        self.started = True

    # -- declarations -------------------------------------------------------------------------
    def file(self, tree: ast.SpecFile) -> str:
        previous = None
        for declaration in tree.declarations:
            separate = isinstance(declaration, (ast.BlockDef, ast.ModelDef)) or isinstance(
                previous, (ast.BlockDef, ast.ModelDef)
            )
            if previous is None:
                self.started = False
                self.brk(declaration.span.line, 0)
            else:
                self.brk(declaration.span.line, 0, force_blank=separate)
            self.declaration(declaration)
            previous = declaration
        self.brk(_NEVER, 0)
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        self.align_trailing()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def align_trailing(self) -> None:
        """Each run of consecutive lines ending in comments: the comments in one column, two spaces
        after the longest line's code (a lone one two spaces after its own)."""
        run: list[int] = []
        for index in [*sorted(self.trailing), _NEVER]:
            if run and index != run[-1] + 1:
                column = max(len(self.lines[i]) for i in run) + 2
                for i in run:
                    self.lines[i] = self.lines[i].ljust(column) + self.trailing[i]
                run = []
            run.append(index)

    def declaration(self, node) -> None:
        if isinstance(node, ast.Use):
            self.write(f"use {_quote(node.path)}")
        elif isinstance(node, ast.Let):
            self.write(f"let {node.name} = ")
            self.expr(node.value)
        elif isinstance(node, ast.BlockDef):
            self.write(f"block {node.name}")
            self.items(node.params, "(", ")", self.param)
            self.write(" ")
            self.bodies((node.body,), node.span)
        else:
            self.write(f"model {node.name} ")
            self.bodies((node.body,), node.span)

    def param(self, node: ast.Param) -> None:
        self.write(node.name)
        if node.default is not None:
            self.write(" = ")
            self.expr(node.default)

    # -- bodies and statements ----------------------------------------------------------------
    def bodies(self, bodies: tuple[ast.Body, ...], span) -> None:
        """`{ a | b }`: on one line if it was written on one line, else one statement a line."""
        if span.line == span.end_line and all(len(b.statements) <= 1 for b in bodies):
            self.write("{")
            for i, body in enumerate(bodies):
                self.write(" | " if i else " ")
                for statement in body.statements:
                    self.statement(statement)
            self.write(" }")
            return
        base = self.indent
        self.write("{")
        for i, body in enumerate(bodies):
            for j, statement in enumerate(body.statements):
                if i and not j:
                    self.brk(statement.span.line, base + INDENT // 2, comment_indent=base + INDENT)
                    self.write("| ")
                    self.indent = base + INDENT
                else:
                    self.brk(statement.span.line, base + INDENT, blanks=bool(j))
                self.statement(statement)
            if i and not body.statements:
                self.brk(0, base + INDENT // 2, blanks=False)
                self.write("|")
        self.brk(span.end_line, base, comment_indent=base + INDENT, blanks=False)
        self.write("}")

    def statement(self, node) -> None:
        if isinstance(node, ast.InputDecl):
            self.write(f"input {node.name}: ")
            kind = node.type
            prefix = {"tensor": "", "tokens": "tokens", "graph": "graph"}[kind.kind]
            self.write(prefix)
            self.items(kind.dims + kind.options, "[", "]", self.item)
        elif isinstance(node, ast.OutputDecl):
            self.write("output " + ", ".join(name for name, _ in node.names))
        elif isinstance(node, ast.Binding):
            start = self.indent
            self.write(f"{node.name} = ")
            self.pipeline(node.pipeline, start)
        else:
            self.pipeline(node, self.indent)

    # -- pipelines ----------------------------------------------------------------------------
    def pipeline(self, node: ast.Pipeline, start: int) -> None:
        first_line = len(self.lines)
        arrow = None  # column of the first `->`, if it is on the pipeline's first line
        for i, stage in enumerate(node.stages):
            if i and stage.span.line > node.stages[i - 1].span.end_line:
                self.brk(stage.span.line, arrow if arrow is not None else start + INDENT // 2, blanks=False)
                self.write("-> ")
            elif i:
                if arrow is None and len(self.lines) == first_line:
                    arrow = self.col + 1
                self.write(" -> ")
            self.stage(stage)

    def stage(self, node: ast.Stage) -> None:
        self.term(node.term)
        if node.count is not None:
            self.write(" * ")
            self.count(node.count)
            self.write(" shared" if node.shared else "")
        if node.alias:
            self.write(f" as {node.alias}")

    def count(self, node) -> None:
        bare = isinstance(node, ast.Name) or (isinstance(node, ast.Number) and isinstance(node.value, int))
        self.write("" if bare else "(")
        self.expr(node)
        self.write("" if bare else ")")

    def term(self, node) -> None:
        if isinstance(node, ast.Call):
            self.write(node.name)
            if node.args is not None:
                self.items(node.args.positional + node.args.keyword, "(", ")", self.item)
        elif isinstance(node, ast.Group):
            self.write("(")
            self.pipeline(node.pipeline, self.indent)
            self.write(")")
        elif isinstance(node, ast.InRef):
            self.write("in")
        elif isinstance(node, ast.Repeat):
            self.write("repeat ")
            self.count(node.count)
            self.write(" shared " if node.shared else " ")
            self.bodies((node.body,), node.span)
        elif isinstance(node, ast.Residual):
            self.write("residual ")
            self.bodies((node.body,), node.span)
        elif isinstance(node, ast.Parallel):
            self.write("parallel")
            if node.args.positional or node.args.keyword:
                self.items(node.args.positional + node.args.keyword, "(", ")", self.item)
            self.write(" ")
            self.bodies(node.branches, node.span)
        else:  # a block with bodies
            self.write(node.name)
            self.items(node.args.positional + node.args.keyword, "(", ")", self.item)
            self.write(" ")
            self.bodies(node.branches, node.span)

    # -- arguments and expressions ------------------------------------------------------------
    def items(self, items, open_: str, close: str, write_item) -> None:
        """`(a, b = c)`: a line break the author put between two items is kept, the next item
        lined up after the bracket."""
        self.write(open_)
        column, indent = self.col, self.indent
        for i, item in enumerate(items):
            if i:
                self.write(",")
                if item.span.line > items[i - 1].span.end_line:
                    self.brk(item.span.line, column, blanks=False)
                    self.indent = indent
                else:
                    self.write(" ")
            write_item(item)
        self.write(close)

    def item(self, node) -> None:
        if isinstance(node, ast.Kwarg):
            self.write(f"{node.name} = ")
            self.expr(node.value)
        else:
            self.expr(node)

    def expr(self, node, context: int = 0) -> None:
        if isinstance(node, ast.BinOp):
            precedence = _PRECEDENCE[node.op]
            self.write("(" if precedence < context else "")
            self.expr(node.left, precedence)
            self.write(f" {node.op} ")
            self.expr(node.right, precedence + 1)
            self.write(")" if precedence < context else "")
        elif isinstance(node, ast.Neg):
            self.write("-")
            self.expr(node.operand, 3)
        elif isinstance(node, (ast.Number, ast.String)):
            self.write(self.literal(node))
        elif isinstance(node, ast.Bool):
            self.write("true" if node.value else "false")
        elif isinstance(node, ast.Name):
            self.write(node.name)
        elif isinstance(node, ast.InRef):
            self.write("in")
        elif isinstance(node, ast.CallExpr):
            self.write(node.name)
            self.items(node.args.positional + node.args.keyword, "(", ")", self.item)
        else:
            self.items(node.items, "[", "]", self.expr)

    def literal(self, node) -> str:
        """A number or string as its author wrote it (`1e-3` stays `1e-3`)."""
        span = node.span
        if span.line == span.end_line and 1 <= span.line <= len(self.source):
            return self.source[span.line - 1][span.col - 1 : span.end_col - 1]
        return _quote(node.value) if isinstance(node, ast.String) else repr(node.value)


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def format_paths(paths, check: bool = False) -> list:
    """Format spec files in place (or, with `check`, only look); returns the paths that changed
    (or would). Raises `SpecErrors` for a file that does not parse, `OSError` for one unreadable."""
    from pathlib import Path

    changed = []
    for path in map(Path, paths):
        text = _read_spec(path)
        formatted = format_spec(text, str(path))
        if formatted != text:
            changed.append(path)
            if not check:
                path.write_text(formatted, encoding="utf-8", newline="")
    return changed


def _read_spec(path) -> str:
    """The file's text exactly as the parser reads it: bytes decoded, never newline-translated (a
    bare CR inside a comment is part of the comment), and at most MAX_SPEC_BYTES read."""
    with path.open("rb") as handle:
        data = handle.read(MAX_SPEC_BYTES + 1)
    problem = None
    if b"\x00" in data:
        problem = "is not a spec: it is a binary file"
    elif len(data) > MAX_SPEC_BYTES:
        problem = f"is larger than {MAX_SPEC_BYTES >> 20} MiB: too large for a spec"
    else:
        try:
            return data.decode("utf-8-sig")  # as the loader: a byte-order mark is not text
        except UnicodeDecodeError as error:
            problem = f"is not UTF-8 text (byte {error.start})"
    raise SpecErrors([SpecError(code="E200", message=f"{path} {problem}")])
