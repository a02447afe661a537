"""What a syntax error most likely was, where the parser's own position would mislead: a '(' or '['
left open at a line's end, an extra '}' that closed a declaration early, a misspelt keyword or a
declaration inside a body, and a character the language does not take (`→`, `;`, a single quote)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable

from lark.exceptions import UnexpectedInput, UnexpectedToken

from .common_mistakes import row
from .errors import Span, SpecError
from .lark_errors import (
    at_end_of_file,
    error_span,
    expected_terminals,
    innermost_open,
    open_brackets,
    unexpected_message,
)


def unclosed_bracket(error: UnexpectedInput, text: str, path: str, parse: Callable[[str], object]) -> SpecError | None:
    """A '(' or '[' left open at the end of a line: line breaks inside brackets are dropped, so the
    parser reads on and trips over the next line's first token. It is that, when closing the bracket
    just before that token lets the parse get past it; the caret goes on the bracket left open."""
    pos = getattr(error, "pos_in_stream", None)
    if pos is None or at_end_of_file(error):
        return None
    line_start = text.rfind("\n", 0, pos) + 1
    opened = innermost_open(text, pos)
    if text[line_start:pos].strip() or opened is None or opened[0] == "{" or opened[1] >= line_start:
        return None
    bracket, at = opened
    closer = ")" if bracket == "(" else "]"
    try:
        parse(text[:pos] + closer + "\n" + text[pos:])
    except UnexpectedInput as later:
        later_pos = getattr(later, "pos_in_stream", None)
        if not at_end_of_file(later) and (later_pos is None or later_pos <= pos + 2):
            return None
    except Exception:  # noqa: BLE001 - a guess that fails to parse must never hide the user's error
        return None
    span = _character_at(text, at, path)
    if bracket == "(" and re.search(r"\w\s*$", text[:at]):
        return SpecError(
            code="E101", message="unclosed '(' in an argument list", span=span, hint="close the argument list with ')'"
        )
    return SpecError(
        code="E101", message=f"unclosed '{bracket}'", span=span, hint=f"close it with '{closer}' on its line"
    )


def closed_too_early(error: UnexpectedInput, text: str, path: str) -> SpecError | None:
    """A body's line after an extra '}' (`residual { relu }}`): the '}' closed the model early, and the
    parser, at the top level, trips over the next token; the caret goes on that '}'."""
    token = getattr(error, "token", None)
    if not isinstance(error, UnexpectedToken) or token is None or token.type in ("$END", "RBRACE"):
        return None
    if not {"MODEL", "BLOCK"} <= expected_terminals(error):  # not at the top level of the file
        return None
    _, closed = open_brackets(text, token.start_pos)
    if closed is None:
        return None
    brace = _character_at(text, closed, path)
    if brace.col == 1:
        return None  # a '}' at the start of its line ends a declaration as meant: the mistake is after it
    return SpecError(
        code="E101",
        message=f"this '}}' closes the {_declaration_before(text, closed)}, so what follows it stands outside any body",
        span=brace,
        hint="remove the extra '}'",
    )


def _character_at(text: str, at: int, path: str) -> Span:
    """The span of the one character at offset `at` of `text`."""
    line, col = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    return Span(file=path, line=line, col=col, end_line=line, end_col=col + 1)


def _declaration_before(text: str, at: int) -> str:
    """`model` or `block`: the kind of the top-level declaration that the '}' at `at` closes."""
    found = re.findall(r"^[ \t]*(model|block)\b", text[:at], flags=re.MULTILINE)
    return found[-1] if found else "declaration"


_DECLARATIONS = ("use", "let", "block", "model")


_KEYWORDS = (*_DECLARATIONS, "input", "output", "repeat", "residual", "parallel", "shared", "as")


def misspelt_or_misplaced_word(error: UnexpectedInput, text: str, path: str) -> SpecError | None:
    """A misspelt keyword (`modle m {`, `* 3 shraed`, `inptu x: [4]`), or a declaration inside a body
    (`let d = 4` in a model). The parser trips over the word where a keyword could stand, or, where a
    name could (`inptu x`, `x -> residul {`), over what follows it and would point at the wrong token."""
    token = getattr(error, "token", None)
    if not isinstance(error, UnexpectedToken) or token is None or token.type in ("$END", "_NL"):
        return None
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    before = text[line_start : token.start_pos]
    if token.type == "NAME":  # the word itself, where a keyword could stand: `modle m`, `* 3 shraed`
        keywords = [t.lower() for t in expected_terminals(error) if t.lower() in _KEYWORDS]
        close = difflib.get_close_matches(str(token), keywords, n=1, cutoff=0.75)
        if close:
            return SpecError(
                code="E100",
                message=unexpected_message(error, text),
                span=error_span(error, text, path),
                hint=f"did you mean '{close[0]}'?",
            )
    previous = re.search(r"(?<![\w.])([A-Za-z_]\w*)[ \t]+$", before)  # the word just before the token
    if previous is None:
        return None
    word, col = previous.group(1), previous.start() + 1
    line = text.count("\n", 0, line_start) + 1
    span = Span(file=path, line=line, col=col, end_line=line, end_col=col + len(word))
    opened = innermost_open(text, token.start_pos)
    at_line_start = not before[: previous.start()].strip()
    if word in _DECLARATIONS and at_line_start and opened is not None and opened[0] == "{":
        if col == 1:  # a declaration where a file's declarations start: the body before it is not closed
            message, hint, _ = row("unclosed '{'")
            brace = _character_at(text, opened[1], path)
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


# Characters that word processors and keyboards put where the language wants ASCII.
_LOOKALIKES = {"→": "->", "⇒": "->", "−": "-", "–": "-", "×": "*", "“": '"', "”": '"', "‘": '"', "’": '"'}


def character_hint(text: str, pos: int) -> str | None:
    """`x → relu`, `let ŷ = 1`, `dense(4;`: what to type instead of a character the language does not take."""
    char = text[pos]
    if char == ";":
        opened = innermost_open(text, pos)
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
