"""Reading a Lark parse error and the text around it: whether it is at the end of the file, the
terminals it expected, where it points, how the token it found is named, and the brackets still
open before a place (strings and comments skipped)."""

from __future__ import annotations

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from .errors import Span

# How a found token is named in "unexpected …" (no article: "unexpected integer '3'").
_FOUND_NAMES = {"NAME": "name", "INT": "integer", "FLOAT": "number", "STRING": "string"}


CLOSING = {"(": "RPAR", "[": "RSQB", "{": "RBRACE"}


def at_end_of_file(error: UnexpectedInput) -> bool:
    token = getattr(error, "token", None)
    return isinstance(error, UnexpectedEOF) or (token is not None and token.type == "$END")


def expected_terminals(error: UnexpectedInput) -> set[str]:
    return set(getattr(error, "accepts", None) or getattr(error, "expected", None) or ())


def error_span(error: UnexpectedInput, text: str, path: str) -> Span:
    token = getattr(error, "token", None)
    if at_end_of_file(error):
        lines = text.rstrip("\n").split("\n")
        line = len(lines)
        col = len(lines[-1]) + 1
        return Span(file=path, line=line, col=col, end_line=line, end_col=col + 1)
    line, col = max(error.line, 1), max(error.column, 1)
    width = 1
    if token is not None and token.type != "_NL" and token.end_line == token.line:
        width = max(1, token.end_column - token.column)
    return Span(file=path, line=line, col=col, end_line=line, end_col=col + width)


def unexpected_message(error: UnexpectedInput, text: str) -> str:
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


def innermost_open(text: str, end: int | None) -> tuple[str, int] | None:
    """The innermost bracket still open before `end`, and where it opens; strings and comments skipped."""
    stack, _ = open_brackets(text, end)
    return stack[-1] if stack else None


def open_brackets(text: str, end: int | None) -> tuple[list[tuple[str, int]], int | None]:
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
        elif char in CLOSING:
            stack.append((char, i))
        elif char in ")]}" and stack:
            stack.pop()
            if char == "}" and not stack:
                closed_top = i
        i += 1
    return stack, closed_top
