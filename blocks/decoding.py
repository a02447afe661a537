"""Continuing a sequence a few positions at a time instead of recomputing it whole.

A language model made of calls that each compute a position from that position and earlier ones
(the blocks that declare `decodes`) can be run on the new tokens alone, provided the calls that look
back remember what they saw: causal attention keeps its keys and values, Mamba its convolution window
and state, recurrent layers their state, positions count on from where they were. Those modules have
a `decoding` attribute, None unless a `Decoding` is attached (`attach`); with one, their forward
reads and extends its caches.

Caches are handed out in call order (`slot`), not by module, so a module called twice in one pass
(`* N shared`) keeps a cache per call. Attached modules take no padding mask: every position is real.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from torch import nn


class Decoding:
    """What one sequence's earlier forward passes left: `position` positions seen, a cache per call."""

    def __init__(self) -> None:
        self.position = 0
        self._caches: list[dict] = []
        self._next = 0

    def slot(self) -> dict:
        """The cache of the next caching call of this forward pass (a new one on the first pass)."""
        if self._next == len(self._caches):
            self._caches.append({})
        self._next += 1
        return self._caches[self._next - 1]

    def advance(self, steps: int) -> None:
        """One forward pass of `steps` new positions is over."""
        self.position += steps
        self._next = 0


@contextmanager
def attach(modules: nn.Module | Iterable[nn.Module], decoding: Decoding) -> Iterator[Decoding]:
    """Run the forward passes of `modules` (and of the modules inside them) with `decoding`'s caches,
    and without them again afterwards; an encoder's modules, which see the whole source every time,
    are left out."""
    roots = [modules] if isinstance(modules, nn.Module) else modules
    users = {id(m): m for root in roots for m in root.modules() if hasattr(m, "decoding")}.values()
    for user in users:
        user.decoding = decoding
    try:
        yield decoding
    finally:
        for user in users:
            user.decoding = None
