"""Hints for a block name the compiler does not know: a standard-library block without its `use`,
the PyTorch or Keras name of a cramnet block, a combinator written as a block, or the nearest name."""

from __future__ import annotations

from collections.abc import Iterable

from ..blocks.aliases import FOREIGN_NAMES, SYNTAX_WORDS
from ..dsl.errors import did_you_mean
from .stdlib import std_blocks


def unknown_block_hint(name: str, candidates: Iterable[str]) -> str:
    """The most useful hint for `name`, which is neither a block nor a bound value here."""
    candidates = set(candidates)
    std = std_blocks().get(name)
    if std is not None:
        return f"'{name}' is in the standard library: add {std.use} at the top of the file"
    if name in SYNTAX_WORDS:
        return f"'{name}' is part of the language, not a block: {SYNTAX_WORDS[name]} (see docs/language.md)"
    key = name.lower().replace("_", "")
    for known in sorted(candidates | set(std_blocks())):
        if known.lower().replace("_", "") == key:
            return f"cramnet calls it '{known}'" + _use_of(known, candidates)
    if key in FOREIGN_NAMES:
        target = FOREIGN_NAMES[key]
        return f"'{name}' is cramnet's '{target}'" + _use_of(target, candidates)
    return did_you_mean(name, candidates) or "`cramnet blocks` lists the blocks"


def _use_of(name: str, visible: set[str]) -> str:
    std = std_blocks().get(name)
    return f" ({std.use} brings it in)" if std is not None and name not in visible else ""
