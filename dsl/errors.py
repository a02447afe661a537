"""Source spans and spec errors: where a mistake is, what it is, and how to fix it.

Every user mistake — in syntax, names, arguments or shapes — becomes a `SpecError`. Passes collect
them in a list so one run reports all; `SpecErrors` carries them (with the source texts needed to
print the offending lines) out of the library.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from ..errors import CramnetError


@dataclass(frozen=True, kw_only=True)
class Span:
    """A region of a spec file; lines and columns count from 1, `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def holds(self, other: Span) -> bool:
        """Whether `other` starts inside this region (same file)."""
        start, end = (self.line, self.col), (self.end_line, self.end_col)
        return self.file == other.file and start <= (other.line, other.col) < end


@dataclass(frozen=True, kw_only=True)
class SpecError:
    """One mistake in a spec. `code` is stable (docs/errors.md lists them); `hint` says how to fix it."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[tuple[Span, str], ...] = ()

    def render(self, sources: dict[str, str]) -> str:
        """Plain-text form: `file:line:col: error[CODE]: message`, the line, a caret, the hint."""
        lines = []
        where = f"{self.span}: " if self.span else ""
        lines.append(clip(f"{where}error[{self.code}]: {self.message}"))
        if self.span:
            lines.extend(excerpt(self.span, sources))
        for span, note in self.notes[:MAX_NOTES_SHOWN]:
            lines.append(clip(f"  note: {note} ({span})"))
            lines.extend(excerpt(span, sources))
        if len(self.notes) > MAX_NOTES_SHOWN:
            lines.append(f"  … and {len(self.notes) - MAX_NOTES_SHOWN} more notes")
        if self.hint:
            lines.append(clip(f"  hint: {self.hint}"))
        return "\n".join(lines)


# A long source line is shown as a window around the caret: a 1 MB line, once per error, made
# the output of one bad spec run to megabytes.
EXCERPT_WIDTH = 100
EXCERPT_BEFORE = 30  # characters kept before the caret when the line is cut
MAX_ERRORS_SHOWN = 50  # after these, "… and N more errors"
MAX_NOTES_SHOWN = 10
MAX_MESSAGE = 500  # characters of a message, note or hint: a spec's names can be any length


def clip(text: str) -> str:
    """`text`, printable, its middle elided when longer than MAX_MESSAGE."""
    text = printable(text)
    if len(text) <= MAX_MESSAGE:
        return text
    half = MAX_MESSAGE // 2
    return f"{text[:half]} … {text[-half:]}"


# C0 controls as their control pictures (ESC as ␛), DEL as ␡, C1 controls as �: a spec or a file
# name holding `ESC ]0;…` would otherwise retitle, clear or script the terminal an error prints to
_PICTURES = (
    {c: 0x2400 + c for c in range(32) if chr(c) not in "\t\n"}
    | {0x7F: 0x2421}
    | dict.fromkeys(range(0x80, 0xA0), 0xFFFD)
)


def printable(text: str) -> str:
    """`text` with its control characters (but tab and newline) shown, one column each, never sent."""
    return text.translate(_PICTURES)


def excerpt(span: Span, sources: dict[str, str]) -> list[str]:
    """The source line of `span` with carets under its columns (on its first line)."""
    text = sources.get(span.file)
    if text is None:
        return []
    source_lines = text.split("\n")  # as the lexer counts lines: \f and \v do not end one
    if not 1 <= span.line <= len(source_lines):
        return []
    raw = source_lines[span.line - 1].removesuffix("\r")  # a CRLF file's line break, not a character of it
    end = span.end_col if span.end_line == span.line else len(raw) + 1
    # columns count characters; tabs are shown as 4 spaces, so measure the caret on the shown text
    start = len(raw[: span.col - 1].expandtabs(4))
    width = max(1, len(raw[: end - 1].expandtabs(4)) - start)
    shown, start, width = _window(raw.expandtabs(4), start, width)
    shown = printable(shown)  # control characters as one-column symbols, never sent
    start, width = _columns(shown[:start]), max(1, _columns(shown[start : start + width]))
    gutter = " " * len(str(span.line))
    return [
        f"  {gutter} |",
        f"  {span.line} | {shown}",
        f"  {gutter} | {' ' * start}{'^' * width}",
    ]


def _columns(text: str) -> int:
    """How many terminal columns `text` takes: CJK characters and emoji two, combining marks none."""
    return sum(
        0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text
    )


def _window(line: str, start: int, width: int) -> tuple[str, int, int]:
    """At most EXCERPT_WIDTH characters of `line` around the caret at `start`, cut ends marked `…`;
    the caret's new start and width."""
    if len(line) <= EXCERPT_WIDTH:
        return line, start, width
    left = max(0, min(start - EXCERPT_BEFORE, len(line) - EXCERPT_WIDTH))
    right = left + EXCERPT_WIDTH
    head = "…" if left > 0 else ""
    tail = "…" if right < len(line) else ""
    start = start - left + len(head)
    width = max(1, min(width, len(head) + EXCERPT_WIDTH - start))
    return head + line[left:right] + tail, start, width


@dataclass
class SpecErrors(CramnetError):
    """Raised by the library when a spec has mistakes; holds all of them, in source order. The one
    `CramnetError` that is a list of located errors (its hints are on each error, `hint` is None)."""

    errors: list[SpecError]
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.errors)
        parts = [e.render(self.sources) for e in self.errors[:MAX_ERRORS_SHOWN]]
        if count > MAX_ERRORS_SHOWN:
            parts.append(more_errors(count - MAX_ERRORS_SHOWN))
        return "\n\n".join(parts) + f"\n\n{count} error{'s' if count != 1 else ''}"

    def __str__(self) -> str:
        return self.render()


def more_errors(hidden: int) -> str:
    return f"… and {hidden} more error{'s' if hidden != 1 else ''} (fix these first)"


def nearest(name: str, candidates: object) -> str | None:
    """The candidate closest to `name` (for did-you-mean hints), or None if nothing is close."""
    import difflib

    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: object) -> str | None:
    guess = nearest(name, candidates)
    return f"did you mean '{guess}'?" if guess else None
