"""Spans (1-based lines and columns, end exclusive) to LSP ranges (0-based) and back.

Columns count characters, as the lexer does; LSP counts UTF-16 code units, which differ past the
Basic Multilingual Plane (an emoji in a string): the server converts at its edge (`CramServer.to_client`).
"""

from __future__ import annotations

from lsprotocol import types

from ..dsl.errors import Span


def span_range(span: Span) -> types.Range:
    return types.Range(
        start=types.Position(line=max(span.line - 1, 0), character=max(span.col - 1, 0)),
        end=types.Position(line=max(span.end_line - 1, 0), character=max(span.end_col - 1, 0)),
    )


def cursor(position: types.Position) -> tuple[int, int]:
    """The (line, col) of an LSP position, 1-based like a Span."""
    return position.line + 1, position.character + 1


def contains(span: Span, line: int, col: int) -> bool:
    """Whether (line, col) lies in the span, its end included (a cursor just after a word is on it)."""
    return (span.line, span.col) <= (line, col) <= (span.end_line, span.end_col)


def whole_document(text: str) -> types.Range:
    lines = text.split("\n")
    return types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=len(lines) - 1, character=len(lines[-1]))
    )


def inside(where: types.Range, text: str) -> types.Range:
    """`where` with each end moved back into `text`: an error at the end of a file points one past it."""
    lines = text.split("\n")

    def clamp(position: types.Position) -> types.Position:
        line = min(position.line, len(lines) - 1)
        character = position.character if line == position.line else len(lines[line])
        return types.Position(line=line, character=min(character, len(lines[line])))

    return types.Range(start=clamp(where.start), end=clamp(where.end))


def name_span(span: Span, name: str) -> Span:
    """The span of `name` written at the start of `span` (a parameter's name in `d = 4`)."""
    return Span(file=span.file, line=span.line, col=span.col, end_line=span.line, end_col=span.col + len(name))


def source_text(span: Span, text: str) -> str:
    """The source a span covers in `text`."""
    lines = text.split("\n")[span.line - 1 : span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.col - 1 : span.end_col - 1]
    return "\n".join([lines[0][span.col - 1 :], *lines[1:-1], lines[-1][: span.end_col - 1]])
