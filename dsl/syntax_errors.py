"""Friendly syntax errors, matched by example (Lark's `match_examples`).

Each row is (message, hint, snippets that make the same parser error). A parse error that lands in
the same parser state on the same token as a snippet gets that row's message; any other gets a
plain "unexpected X, expected Y" built from the parser's expectations. tests/test_syntax_errors.py
walks the table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

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
        "`use` takes one path in quotes; which file is used cannot vary (not even with `choice`)",
        'write `use "blocks.cram"`; to search between blocks, use both files and `let b = choice(x, y)`',
        ['use choice("a.cram", "b.cram")\n', "use blocks\n"],
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
    "PLUS": "'+'",
    "MINUS": "'-'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
}

# How a found token is named in "unexpected …" (no article: "unexpected integer '3'").
_FOUND_NAMES = {"NAME": "name", "INT": "integer", "FLOAT": "number", "STRING": "string"}


def _friendly(terminal: str) -> str:
    if terminal in _TOKEN_NAMES:
        return _TOKEN_NAMES[terminal]
    return f"'{terminal.lower()}'" if terminal.isalpha() else terminal


def describe_syntax_error(error: UnexpectedInput, text: str, path: str, parse: Callable[[str], object]) -> SpecError:
    """Turn a Lark error into a located `SpecError`, preferring a row of `COMMON_MISTAKES`."""
    span = _error_span(error, text, path)
    try:
        label = _matching_row(error, parse)
    except Exception:  # a malformed example must never hide the user's error
        label = None
    if label is None and _at_end(error) and "RBRACE" in _expected(error):
        # the file ends inside a body, wherever in its line: the table's examples cannot list every place
        label = next(i for i, (message, _, _) in enumerate(COMMON_MISTAKES) if message.startswith("unclosed '{'"))
    if label is not None:
        message, hint, _ = COMMON_MISTAKES[label]
        return SpecError(code="E101", message=message, span=span, hint=hint)
    return SpecError(code="E100", message=_generic_message(error, text), span=span, hint=_generic_hint(error, text))


def _matching_row(error: UnexpectedInput, parse: Callable[[str], object]) -> int | None:
    """The row of `COMMON_MISTAKES` with a snippet that fails as `error` does, much as Lark's
    `match_examples` decides (same parser state and expected tokens; an exact token match wins), but:
    the state is compared without the depth of the parse stack, so a snippet's mistake is recognised in
    any statement of any body, not only in the first statement of the first declaration; a token of the
    same type beats a mere state match; and a stray character matches only a snippet with the same
    character, so `x -> relu $` does not read as `x > relu`."""
    candidate, same_type = None, False
    for label, example in _example_errors(parse):
        if _parser_state(example) != _parser_state(error):
            continue
        if isinstance(error, UnexpectedCharacters) or isinstance(example, UnexpectedCharacters):
            same = isinstance(error, UnexpectedCharacters) and isinstance(example, UnexpectedCharacters)
            if same and example.char == error.char and candidate is None:
                candidate = label
            continue
        if isinstance(error, UnexpectedToken) and isinstance(example, UnexpectedToken):
            if example.accepts != error.accepts:
                continue
        found, expected = getattr(error, "token", None), getattr(example, "token", None)
        if found == expected:  # Token equality compares the text
            return label
        if not same_type and found is not None and expected is not None and found.type == expected.type:
            candidate, same_type = label, True  # `dense(2 4)` is `conv2d(16 3)`, not `dense(2 }`
        elif candidate is None:
            candidate = label
    return candidate


@lru_cache(maxsize=4)
def _example_errors(parse: Callable[[str], object]) -> tuple[tuple[int, UnexpectedInput], ...]:
    """How each snippet of the table fails, parsed once per parser."""
    failures = []
    for label, (_, _, snippets) in enumerate(COMMON_MISTAKES):
        for snippet in snippets:
            try:
                parse(snippet)
            except UnexpectedInput as example:
                failures.append((label, example))
    return tuple(failures)


def _at_end(error: UnexpectedInput) -> bool:
    token = getattr(error, "token", None)
    return isinstance(error, UnexpectedEOF) or (token is not None and token.type == "$END")


def _expected(error: UnexpectedInput) -> set[str]:
    return set(getattr(error, "accepts", None) or getattr(error, "expected", None) or ())


def _parser_state(error: UnexpectedInput) -> object:
    """The LALR state the parser was in (Lark's `ParserState` also compares the stack's depth)."""
    return getattr(error.state, "position", error.state)


def _error_span(error: UnexpectedInput, text: str, path: str) -> Span:
    token = getattr(error, "token", None)
    if _at_end(error):
        lines = text.rstrip("\n").split("\n")
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
    if token.type == "STRING":
        return f"string {token}"
    return f"{_FOUND_NAMES[token.type]} '{token}'" if token.type in _FOUND_NAMES else f"'{token}'"


def _generic_hint(error: UnexpectedInput, text: str) -> str | None:
    expected = getattr(error, "accepts", None) or getattr(error, "expected", None)
    if not expected:
        return None
    closer = _CLOSING.get(_innermost_open(text, getattr(error, "pos_in_stream", None)))
    terminals = sorted(
        (t for t in expected if not t.startswith("__")), key=lambda t: (_likeliness(t, closer), _friendly(t))
    )
    names = list(dict.fromkeys(_friendly(t) for t in terminals))
    if isinstance(error, UnexpectedToken) and len(names) > 8:
        names = names[:8] + ["…"]
    return "expected " + ", ".join(names)


_CLOSING = {"(": "RPAR", "[": "RSQB", "{": "RBRACE"}
_SEPARATORS = {"COMMA", "_ARROW", "EQUAL", "COLON", "VBAR", "_NL"}
_VALUES = ("NAME", "INT", "FLOAT", "STRING")
_OPERATORS = ("PLUS", "MINUS", "STAR", "SLASH", "PERCENT")


def _likeliness(terminal: str, closer: str | None) -> tuple[int, int]:
    """The order expected tokens are listed in, likeliest first: what closes the innermost open
    bracket, the other closing brackets, separators, names and values, other words; arithmetic last
    (it may follow almost any value, so it is rarely what was missing)."""
    if terminal == closer:
        return 0, 0
    if terminal in _CLOSING.values():
        return 1, 0
    if terminal in _SEPARATORS:
        return 2, 0
    if terminal in _VALUES:
        return 3, _VALUES.index(terminal)
    if terminal in _OPERATORS:
        return 5, _OPERATORS.index(terminal)
    return 4, 0


def _innermost_open(text: str, end: int | None) -> str | None:
    """The innermost bracket still open before `end`, strings and comments skipped."""
    stack: list[str] = []
    i, end = 0, len(text) if end is None else min(end, len(text))
    while i < end:
        char = text[i]
        if char == "#":
            i = text.find("\n", i)
            i = end if i < 0 else i
        elif char == '"':
            i += 1
            while i < end and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif char in _CLOSING:
            stack.append(char)
        elif char in ")]}" and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else None
