"""Friendly syntax errors: a located `SpecError` for each Lark parse error — a likely mistake named
(syntax_guesses.py), a row of common_mistakes.py matched by example (Lark's `match_examples`, made
more forgiving), else a plain "unexpected X" with the tokens that could stand there, likeliest first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .common_mistakes import COMMON_MISTAKES, row
from .errors import SpecError
from .lark_errors import CLOSING, at_end_of_file, error_span, expected_terminals, innermost_open, unexpected_message
from .syntax_guesses import character_hint, closed_too_early, misspelt_or_misplaced_word, unclosed_bracket

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


def _friendly(terminal: str) -> str:
    if terminal in _TOKEN_NAMES:
        return _TOKEN_NAMES[terminal]
    return f"'{terminal.lower()}'" if terminal.isalpha() else terminal


def describe_syntax_error(error: UnexpectedInput, text: str, path: str, parse: Callable[[str], object]) -> SpecError:
    """Turn a Lark error into a located `SpecError`, preferring a row of `COMMON_MISTAKES`."""
    special = (
        unclosed_bracket(error, text, path, parse)
        or misspelt_or_misplaced_word(error, text, path)
        or closed_too_early(error, text, path)
    )
    if special is not None:
        return special
    span = error_span(error, text, path)
    if isinstance(error, UnexpectedCharacters) and text[error.pos_in_stream : error.pos_in_stream + 1] == '"':
        message, hint, _ = row("a string is missing")  # a '"' the lexer cannot start a string at: none ends it
        return SpecError(code="E101", message=message, span=span, hint=hint)
    try:
        label = _matching_row(error, parse)
    except Exception:  # a malformed example must never hide the user's error
        label = None
    if label is None and at_end_of_file(error) and "RBRACE" in expected_terminals(error):
        # the file ends inside a body, wherever in its line: the table's examples cannot list every place
        label = COMMON_MISTAKES.index(row("unclosed '{'"))
    if label is not None:
        message, hint, _ = COMMON_MISTAKES[label]
        return SpecError(code="E101", message=message, span=span, hint=hint)
    return SpecError(code="E100", message=unexpected_message(error, text), span=span, hint=_generic_hint(error, text))


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


def _parser_state(error: UnexpectedInput) -> object:
    """The LALR state the parser was in (Lark's `ParserState` also compares the stack's depth)."""
    return getattr(error.state, "position", error.state)


def _generic_hint(error: UnexpectedInput, text: str) -> str | None:
    if isinstance(error, UnexpectedCharacters) and error.pos_in_stream < len(text):
        hint = character_hint(text, error.pos_in_stream)
        if hint is not None:
            return hint
    expected = getattr(error, "accepts", None) or getattr(error, "expected", None)
    if not expected:
        return None
    opened = innermost_open(text, getattr(error, "pos_in_stream", None))
    closer = CLOSING.get(opened[0]) if opened else None
    terminals = sorted(
        (t for t in expected if not t.startswith("__")), key=lambda t: (_likeliness(t, closer), _friendly(t))
    )
    names = list(dict.fromkeys(_friendly(t) for t in terminals))
    if isinstance(error, UnexpectedToken) and len(names) > 8:
        names = names[:8] + ["…"]
    return "expected " + ", ".join(names)


_SEPARATORS = {"COMMA", "_ARROW", "EQUAL", "COLON", "VBAR", "_NL"}


_VALUES = ("NAME", "INT", "FLOAT", "STRING")


_OPERATORS = ("PLUS", "MINUS", "STAR", "SLASH", "PERCENT")


def _likeliness(terminal: str, closer: str | None) -> tuple[int, int]:
    """The order expected tokens are listed in, likeliest first: what closes the innermost open
    bracket, the other closing brackets, separators, names and values, other words; arithmetic last
    (it may follow almost any value, so it is rarely what was missing)."""
    if terminal == closer:
        return 0, 0
    if terminal in CLOSING.values():
        return 1, 0
    if terminal in _SEPARATORS:
        return 2, 0
    if terminal in _VALUES:
        return 3, _VALUES.index(terminal)
    if terminal in _OPERATORS:
        return 5, _OPERATORS.index(terminal)
    return 4, 0
