"""The standard library as a catalogue: each composite block in blocks/std/*.cram with the file that
defines it, its signature and the comment above it (for `cramnet blocks NAME` and for the hint that
says which `use` a spec is missing)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..dsl import ast, parse
from .loader import STD_DIR


@dataclass(frozen=True)
class StdBlock:
    name: str
    use: str  # the line that brings it in: `use "std:transformer"`
    signature: str  # `pre_ln(d, heads, hidden, causal = false, …)`
    doc: str  # the comment lines just above its `block` line
    source: str  # the whole definition, as written


@lru_cache(maxsize=1)
def std_blocks() -> dict[str, StdBlock]:
    """Every block the standard library defines, by name (the first file wins for a repeated name)."""
    found: dict[str, StdBlock] = {}
    for path in sorted(STD_DIR.glob("*.cram")):
        text = path.read_text()
        lines = text.splitlines()
        for decl in parse(text, str(path)).declarations:
            if isinstance(decl, ast.BlockDef) and decl.name not in found:
                found[decl.name] = _describe(decl, lines, f'use "std:{path.stem}"')
    return found


def _describe(decl: ast.BlockDef, lines: list[str], use: str) -> StdBlock:
    first, last = decl.span.line - 1, decl.span.end_line
    head = lines[first].strip().removeprefix("block ")
    signature = head[: head.rfind("{")].strip() if "{" in head else head
    comment = []
    for line in reversed(lines[:first]):
        if not line.lstrip().startswith("#"):
            break
        comment.insert(0, line.lstrip()[1:].strip())
    return StdBlock(decl.name, use, signature, " ".join(comment), "\n".join(lines[first:last]))
