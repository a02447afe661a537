"""Where the cursor is, read from the text before it alone: a half-typed spec does not parse, and
completion is asked for exactly then."""

from __future__ import annotations

import re
from dataclasses import dataclass

# what the cursor is writing: nothing to complete in a comment or a string; a declaration at the
# top level, a `use`'s path; a value (a let's, a list's item); a body's line (or the pipeline after
# `NAME =`); a stage after `->`; a repeat count or arithmetic; an input's type or its dimensions;
# `as` after a whole stage; else unknown
PLACES = (
    *("comment", "string", "top", "use", "value", "line", "pipeline", "stage", "count", "type", "dims", "after"),
    "other",
)
_BODY = {"model": re.compile(r"\bmodel\s+\w+\s*$"), "block": re.compile(r"\bblock\s+\w+\s*\([^{}]*\)\s*$")}
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Place:
    kind: str  # one of PLACES
    body: str  # "top", "model", or "block" for any body with a current value (a block's, `residual { }`, …)
    code: str  # the text before the cursor without comments, each string left as `""`
    statement: str = ""  # the statement being written, on one line


def place_of(before: str) -> Place:
    """The place of a cursor that has `before` before it."""
    code, open_ = _code(before)
    if open_ is not None:
        return Place(open_, "top", code)
    stack: list[tuple[str, int, str]] = []  # (bracket, where, body kind of a `{`)
    for i, char in enumerate(code):
        if char in "([{":
            body = "block"
            if char == "{" and not any(b == "{" for b, _, _ in stack):
                body = next((kind for kind, header in _BODY.items() if header.search(code[:i])), "block")
            stack.append((char, i, body))
        elif char in _PAIRS:
            while stack and stack.pop()[0] != _PAIRS[char]:
                pass  # a stray closer: drop what it skips, as the parser's recovery would
    body = next((kind for b, _, kind in reversed(stack) if b == "{"), "top")
    start = stack[-1][1] + 1 if stack else 0
    if stack and stack[-1][0] == "[":
        start = max((i + 1 for b, i, _ in stack if b == "{"), default=0)
        statement = _statement(code[start:])
        return Place("dims" if re.match(r"input\b", statement) else "value", body, code, statement)
    statement = _statement(code[start:])
    kind = _kind(statement, body)
    if stack and stack[-1][0] == "(" and kind == "line":  # a group's `(`: a call's is answered before this is asked
        kind = "stage" if re.search(r"->\s*$", code[: start - 1]) else "pipeline"
    return Place(kind, body, code, statement)


def _code(before: str) -> tuple[str, str | None]:
    """`before` without comments and with strings emptied; and "comment" or "string" when the
    cursor is inside one."""
    out, i, inside = [], 0, None
    while i < len(before):
        char = before[i]
        if inside == "string":
            if char == "\\":
                i += 1
            elif char == '"' or char == "\n":
                out.append('"')
                inside = None
        elif inside == "comment":
            if char == "\n":
                out.append(char)
                inside = None
        elif char == '"':
            out.append(char)
            inside = "string"
        elif char == "#":
            inside = "comment"
        else:
            out.append(char)
        i += 1
    return "".join(out), inside


def _statement(segment: str) -> str:
    """The statement the cursor is in, from the text after the innermost open bracket: its lines
    joined where a `->` carries the pipeline over a line break, brackets' line breaks dropped."""
    flat, depth = [], 0
    for char in segment:
        depth += char in "(["
        depth -= char in ")]"
        flat.append(" " if char == "\n" and depth > 0 else char)
    lines = "".join(flat).split("|")[-1].split("\n")  # `{ a | b }`: branches are bodies of their own
    statement = lines.pop()
    while lines and (statement.lstrip().startswith("->") or lines[-1].rstrip().endswith("->")):
        statement = lines.pop() + " " + statement
    return statement.lstrip()


def _kind(statement: str, body: str) -> str:
    if body == "top":
        if re.match(r"let\s+\w+\s*=", statement):
            return "value"
        if re.fullmatch(r"use\s+", statement):
            return "use"
        return "top" if re.fullmatch(r"\w*", statement) else "other"
    if re.fullmatch(r"input\s+\w+\s*:\s*\w*", statement):
        return "type"
    if re.fullmatch(r"\w*", statement):
        return "line"
    if re.fullmatch(r"\w+\s*=\s*\w*", statement):
        return "pipeline"
    if re.search(r"(\*\s*|\brepeat\s+|[+\-/%]\s*)\w*$", statement):
        return "count"  # or arithmetic, which takes the same: lets and parameters
    if re.search(r"->\s*\w*$", statement):
        return "stage"
    if re.search(r"[\w)\]}]\s+\w*$", statement):
        return "after"
    return "other"
