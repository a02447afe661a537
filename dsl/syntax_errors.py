"""Friendly syntax errors, matched by example (Lark's `match_examples`).

Each row is (message, hint, snippets that make the same parser error). A parse error that lands in
the same parser state on the same token as a snippet gets that row's message; any other gets a
plain "unexpected X, expected Y" built from the parser's expectations. tests/test_syntax_errors.py
walks the table.
"""

from __future__ import annotations

from collections.abc import Callable

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import Span, SpecError

COMMON_MISTAKES: list[tuple[str, str, list[str]]] = [
    (
        "a pipeline joins stages with '->', not '>' or '=>'",
        "write `a -> b`",
        ["model m {\n x > relu\n}", "model m {\n x => relu\n}", "model m {\n x -> relu > dense(2)\n}"],
    ),
    (
        "unclosed '{': a model or block body must end with '}'",
        "add the missing '}' at the end of the body",
        ["model m {\n input x: [2]\n", "block b(d) {\n dense(d)\n", "model m {\n x -> residual { relu\n"],
    ),
    (
        "unexpected ')': an argument list has more closing than opening parentheses",
        "remove the extra ')'",
        ["model m {\n x -> dense(2))\n}"],
    ),
    (
        "unclosed '(' in an argument list",
        "close the argument list with ')'",
        ["model m {\n x -> dense(2\n}", "model m {\n x -> dense(2, bias = false\n}"],
    ),
    (
        "two arguments without a comma between them",
        "separate arguments with ',': `conv2d(16, 3)`",
        ["model m {\n x -> conv2d(16 3)\n}", "model m {\n x -> dense(2 bias = false)\n}"],
    ),
    (
        "an input needs a type after ':' — a shape like `[1, 28, 28]`, `tokens[seq]` or `graph[nodes, F]`",
        "write `input image: [1, 28, 28]`",
        ["model m {\n input x\n}", "model m {\n input x:\n}", "model m {\n input x: 3\n}"],
    ),
    (
        "a keyword argument uses '=', not ':'",
        "write `dense(10, bias = false)`",
        ["model m {\n x -> dense(10, bias: false)\n}", "model m {\n x -> dense(out: 10)\n}"],
    ),
    (
        "a block declaration needs a parameter list, even an empty one",
        "write `block name() { … }` or `block name(d, p = 0.1) { … }`",
        ["block b {\n relu\n}"],
    ),
    (
        "a pipeline ends with a dangling '->'",
        "put a stage after the arrow or remove it",
        ["model m {\n x -> relu ->\n}"],
    ),
    (
        "positional arguments must come before keyword arguments",
        "move `key = value` arguments to the end",
        ["model m {\n x -> conv2d(out = 16, 3)\n}"],
    ),
    (
        "`* N` needs a count: an integer, a name, or a parenthesised expression",
        "write `layer * 12` or `layer * (n + 1)`",
        ["model m {\n x -> relu * \n}", "model m {\n x -> relu * 2.5\n}"],
    ),
    (
        "a `let` needs a value",
        "write `let d = 256`",
        ["let d\n", "let d =\n"],
    ),
    (
        "a string is missing its closing quote",
        'close the string with `"`',
        ['use "std:resnet\n'],
    ),
]

_TOKEN_NAMES = {
    "_NL": "end of line",
    "$END": "end of file",
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "_ARROW": "'->'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "VBAR": "'|'",
    "STAR": "'*'",
}


def _friendly(terminal: str) -> str:
    if terminal in _TOKEN_NAMES:
        return _TOKEN_NAMES[terminal]
    return f"'{terminal.lower()}'" if terminal.isalpha() else terminal


def describe_syntax_error(error: UnexpectedInput, text: str, path: str, parse: Callable[[str], object]) -> SpecError:
    """Turn a Lark error into a located `SpecError`, preferring a row of `COMMON_MISTAKES`."""
    span = _error_span(error, text, path)
    examples = {i: snippets for i, (_, _, snippets) in enumerate(COMMON_MISTAKES)}
    try:
        label = error.match_examples(parse, examples, use_accepts=True)
    except Exception:  # a malformed example must never hide the user's error
        label = None
    if label is not None:
        message, hint, _ = COMMON_MISTAKES[label]
        return SpecError(code="E101", message=message, span=span, hint=hint)
    return SpecError(code="E100", message=_generic_message(error, text), span=span, hint=_generic_hint(error))


def _error_span(error: UnexpectedInput, text: str, path: str) -> Span:
    token = getattr(error, "token", None)
    if isinstance(error, UnexpectedEOF) or (token is not None and token.type == "$END"):
        lines = text.splitlines() or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        return Span(file=path, line=line, col=col, end_line=line, end_col=col + 1)
    line, col = max(error.line, 1), max(error.column, 1)
    width = 1
    if token is not None and token.type != "_NL" and token.end_line == token.line:
        width = max(1, token.end_column - token.column)
    return Span(file=path, line=line, col=col, end_line=line, end_col=col + width)


def _generic_message(error: UnexpectedInput, text: str) -> str:
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else "?"
        return f"unexpected character {char!r}"
    token = getattr(error, "token", None)
    found = "end of file" if token is None or token.type == "$END" else _describe_token(token)
    return f"unexpected {found}"


def _describe_token(token) -> str:
    if token.type == "_NL":
        return "end of line"
    return f"{_friendly(token.type)} '{token}'" if token.type in ("NAME", "INT", "FLOAT", "STRING") else f"'{token}'"


def _generic_hint(error: UnexpectedInput) -> str | None:
    expected = getattr(error, "accepts", None) or getattr(error, "expected", None)
    if not expected:
        return None
    names = sorted({_friendly(t) for t in expected if not t.startswith("__")})
    if isinstance(error, UnexpectedToken) and len(names) > 8:
        names = names[:8] + ["…"]
    return "expected " + ", ".join(names)
