"""Friendly syntax errors, matched by example (Lark's `match_examples`).

Each row is (message, hint, snippets that make the same parser error). A parse error that lands in
the same parser state on the same token as a snippet gets that row's message; any other gets a
plain "unexpected X, expected Y" built from the parser's expectations. tests/test_syntax_errors.py
walks the table.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
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
        "a body's '{' must be on the same line as its declaration",
        "write `model m {` (or `block b(d) {`) on one line",
        ["model m\n{\n}\n", "block b()\n{\n}\n"],
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
        "a repeat count longer than a name or a number needs parentheses",
        "write `layer * (n + 1)`",
        ["model m {\n x -> relu * n + 1\n}", "model m {\n x -> relu * 2 - 1\n}", "model m {\n x -> relu * 2 * n\n}"],
    ),
    (
        "`repeat N` needs a count: an integer, a name, or a parenthesised expression",
        "write `repeat 3 { … }` or `repeat (n + 1) { … }`",
        ["model m {\n x -> repeat 2.5 { relu }\n}", "model m {\n x -> repeat n + 1 { relu }\n}"],
    ),
    (
        "`in` names the body's input: it cannot be bound",
        "choose another name: `h = in -> relu`",
        ["block b() {\n in = relu\n}"],
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
    special = (
        _unclosed_bracket(error, text, path, parse)
        or _misspelt_or_misplaced_word(error, text, path)
        or _closed_too_early(error, text, path)
    )
    if special is not None:
        return special
    span = _error_span(error, text, path)
    if isinstance(error, UnexpectedCharacters) and text[error.pos_in_stream : error.pos_in_stream + 1] == '"':
        message, hint, _ = _row("a string is missing")  # a '"' the lexer cannot start a string at: none ends it
        return SpecError(code="E101", message=message, span=span, hint=hint)
    try:
        label = _matching_row(error, parse)
    except Exception:  # a malformed example must never hide the user's error
        label = None
    if label is None and _at_end(error) and "RBRACE" in _expected(error):
        # the file ends inside a body, wherever in its line: the table's examples cannot list every place
        label = COMMON_MISTAKES.index(_row("unclosed '{'"))
    if label is not None:
        message, hint, _ = COMMON_MISTAKES[label]
        return SpecError(code="E101", message=message, span=span, hint=hint)
    return SpecError(code="E100", message=_generic_message(error, text), span=span, hint=_generic_hint(error, text))


def _row(start: str) -> tuple[str, str, list[str]]:
    """The row of COMMON_MISTAKES whose message starts so."""
    return next(row for row in COMMON_MISTAKES if row[0].startswith(start))


def _unclosed_bracket(error: UnexpectedInput, text: str, path: str, parse: Callable[[str], object]) -> SpecError | None:
    """A '(' or '[' left open at the end of a line: line breaks inside brackets are dropped, so the
    parser reads on and trips over the next line's first token. It is that, when closing the bracket
    just before that token lets the parse get past it; the caret goes on the bracket left open."""
    pos = getattr(error, "pos_in_stream", None)
    if pos is None or _at_end(error):
        return None
    line_start = text.rfind("\n", 0, pos) + 1
    opened = _innermost_open(text, pos)
    if text[line_start:pos].strip() or opened is None or opened[0] == "{" or opened[1] >= line_start:
        return None
    bracket, at = opened
    closer = ")" if bracket == "(" else "]"
    try:
        parse(text[:pos] + closer + "\n" + text[pos:])
    except UnexpectedInput as later:
        later_pos = getattr(later, "pos_in_stream", None)
        if not _at_end(later) and (later_pos is None or later_pos <= pos + 2):
            return None
    except Exception:  # noqa: BLE001 - a guess that fails to parse must never hide the user's error
        return None
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    span = Span(file=path, line=line, col=col, end_line=line, end_col=col + 1)
    if bracket == "(" and re.search(r"\w\s*$", text[:at]):
        return SpecError(
            code="E101", message="unclosed '(' in an argument list", span=span, hint="close the argument list with ')'"
        )
    return SpecError(
        code="E101", message=f"unclosed '{bracket}'", span=span, hint=f"close it with '{closer}' on its line"
    )


def _closed_too_early(error: UnexpectedInput, text: str, path: str) -> SpecError | None:
    """A body's line after an extra '}' (`residual { relu }}`): the '}' closed the model early, and the
    parser, at the top level, trips over the next token; the caret goes on that '}'."""
    token = getattr(error, "token", None)
    if not isinstance(error, UnexpectedToken) or token is None or token.type in ("$END", "RBRACE"):
        return None
    if not {"MODEL", "BLOCK"} <= _expected(error):  # not at the top level of the file
        return None
    _, closed = _scan(text, token.start_pos)
    if closed is None:
        return None
    start = text.rfind("\n", 0, closed) + 1
    if closed == start:
        return None  # a '}' at the start of its line ends a declaration as meant: the mistake is after it
    line, col = text.count("\n", 0, closed) + 1, closed - start + 1
    return SpecError(
        code="E101",
        message=f"this '}}' closes the {_declaration_before(text, closed)}, so what follows it stands outside any body",
        span=Span(file=path, line=line, col=col, end_line=line, end_col=col + 1),
        hint="remove the extra '}'",
    )


def _declaration_before(text: str, at: int) -> str:
    """`model` or `block`: the kind of the top-level declaration that the '}' at `at` closes."""
    found = re.findall(r"^[ \t]*(model|block)\b", text[:at], flags=re.MULTILINE)
    return found[-1] if found else "declaration"


_DECLARATIONS = ("use", "let", "block", "model")
_KEYWORDS = (*_DECLARATIONS, "input", "output", "repeat", "residual", "parallel", "shared", "as")


def _misspelt_or_misplaced_word(error: UnexpectedInput, text: str, path: str) -> SpecError | None:
    """A misspelt keyword (`modle m {`, `* 3 shraed`, `inptu x: [4]`), or a declaration inside a body
    (`let d = 4` in a model). The parser trips over the word where a keyword could stand, or, where a
    name could (`inptu x`, `x -> residul {`), over what follows it and would point at the wrong token."""
    token = getattr(error, "token", None)
    if not isinstance(error, UnexpectedToken) or token is None or token.type in ("$END", "_NL"):
        return None
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    before = text[line_start : token.start_pos]
    if token.type == "NAME":  # the word itself, where a keyword could stand: `modle m`, `* 3 shraed`
        keywords = [t.lower() for t in _expected(error) if t.lower() in _KEYWORDS]
        close = difflib.get_close_matches(str(token), keywords, n=1, cutoff=0.75)
        if close:
            return SpecError(
                code="E100",
                message=_generic_message(error, text),
                span=_error_span(error, text, path),
                hint=f"did you mean '{close[0]}'?",
            )
    previous = re.search(r"(?<![\w.])([A-Za-z_]\w*)[ \t]+$", before)  # the word just before the token
    if previous is None:
        return None
    word, col = previous.group(1), previous.start() + 1
    line = text.count("\n", 0, line_start) + 1
    span = Span(file=path, line=line, col=col, end_line=line, end_col=col + len(word))
    opened = _innermost_open(text, token.start_pos)
    at_line_start = not before[: previous.start()].strip()
    if word in _DECLARATIONS and at_line_start and opened is not None and opened[0] == "{":
        if col == 1:  # a declaration where a file's declarations start: the body before it is not closed
            message, hint, _ = _row("unclosed '{'")
            at = opened[1]
            brace_line, brace_col = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
            brace = Span(file=path, line=brace_line, col=brace_col, end_line=brace_line, end_col=brace_col + 1)
            return SpecError(code="E101", message=message, span=brace, hint=f"{hint}, before line {line}")
        return SpecError(
            code="E101",
            message=f"`{word}` belongs at the top level of a file, not inside a model or block",
            span=span,
            hint=f"move the `{word}` out of the body, above the model",
        )
    if word in _KEYWORDS and at_line_start and token.type == "EQUAL":
        return SpecError(
            code="E101",
            message=f"'{word}' is a keyword of the language: it cannot name a value",
            span=span,
            hint=f"choose another name, for example '{word}_out'",
        )
    close = difflib.get_close_matches(word, _KEYWORDS, n=1, cutoff=0.75)
    if word in _KEYWORDS or not close:
        return None
    return SpecError(code="E101", message=f"unknown keyword '{word}'", span=span, hint=f"did you mean '{close[0]}'?")


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
        elif candidate is None and _is_value(found) == _is_value(expected):
            candidate = label  # `x -> 3 -> relu` is a value out of place, not `x -> relu ->` dangling
    return candidate


def _is_value(token) -> bool:
    return token is not None and token.type in _VALUES


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
    if isinstance(error, UnexpectedCharacters) and error.pos_in_stream < len(text):
        hint = _character_hint(text, error.pos_in_stream)
        if hint is not None:
            return hint
    expected = getattr(error, "accepts", None) or getattr(error, "expected", None)
    if not expected:
        return None
    opened = _innermost_open(text, getattr(error, "pos_in_stream", None))
    closer = _CLOSING.get(opened[0]) if opened else None
    terminals = sorted(
        (t for t in expected if not t.startswith("__")), key=lambda t: (_likeliness(t, closer), _friendly(t))
    )
    names = list(dict.fromkeys(_friendly(t) for t in terminals))
    if isinstance(error, UnexpectedToken) and len(names) > 8:
        names = names[:8] + ["…"]
    return "expected " + ", ".join(names)


# Characters that word processors and keyboards put where the language wants ASCII.
_LOOKALIKES = {"→": "->", "⇒": "->", "−": "-", "–": "-", "×": "*", "“": '"', "”": '"', "‘": '"', "’": '"'}


def _character_hint(text: str, pos: int) -> str | None:
    """`x → relu`, `let ŷ = 1`, `dense(4;`: what to type instead of a character the language does not take."""
    char = text[pos]
    if char == ";":
        opened = _innermost_open(text, pos)
        if opened is not None and opened[0] in "([":
            return "separate arguments and list items with ','"
        return "a statement ends at the end of its line: remove the ';' (or break the line there)"
    if char == "'":
        end = text.find("'", pos + 1)
        quoted = text[pos + 1 : end] if end > 0 and "\n" not in text[pos:end] else "…"
        return f'strings are written in double quotes: "{quoted}"'
    if char in _LOOKALIKES:
        return f"write {_LOOKALIKES[char]!r} instead"
    if char.isalpha() and not char.isascii():
        plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        instead = f": write {plain!r} for {char!r}" if plain.isalpha() else ""
        return f"names are ASCII letters, digits and '_'{instead}"
    return None


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


def _innermost_open(text: str, end: int | None) -> tuple[str, int] | None:
    """The innermost bracket still open before `end`, and where it opens; strings and comments skipped."""
    stack, _ = _scan(text, end)
    return stack[-1] if stack else None


def _scan(text: str, end: int | None) -> tuple[list[tuple[str, int]], int | None]:
    """The brackets still open before `end` (each with where it opens), and where the last '}' that
    closed a top-level declaration stands; strings and comments skipped."""
    stack: list[tuple[str, int]] = []
    closed_top = None
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
            stack.append((char, i))
        elif char in ")]}" and stack:
            stack.pop()
            if char == "}" and not stack:
                closed_top = i
        i += 1
    return stack, closed_top
