"""Continuing a sequence a few positions at a time instead of recomputing it whole.

A language model made of calls that each compute a position from that position and earlier ones
(the blocks that declare `decodes`) can be run on the new tokens alone, provided the calls that look
back remember what they saw: causal attention keeps its keys and values, Mamba its convolution window
and state, recurrent layers their state, positions count on from where they were. Those modules have
a `decoding` attribute, None unless a `Decoding` is attached (`attach`); with one, their forward
reads and extends its caches.

Caches are handed out in call order (`slot`), not by module, so a module called twice in one pass
(`* N shared`) keeps a cache per call. Attached modules take no padding mask: every position is real.
An encoder–decoder's encoder reads the same source on every pass: its modules are replayed, computing
on the first pass only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from torch import nn


class Decoding:
    """What one sequence's earlier forward passes left: `position` positions seen, a cache per call."""

    def __init__(self) -> None:
        self.position = 0
        self._caches: list[dict] = []
        self._next = 0
        self._outputs: dict[int, list] = {}  # a replayed module's outputs, call by call
        self._calls: Counter = Counter()  # its calls in this pass

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
        self._calls.clear()

    def replay(self, module: nn.Module, forward: Callable) -> Callable:
        """`forward` of `module` computed on the first pass, its outputs given back on later passes."""
        outputs = self._outputs.setdefault(id(module), [])

        def replayed(*args, **kwargs):
            call = self._calls[id(module)]
            self._calls[id(module)] += 1
            if call == len(outputs):
                outputs.append(forward(*args, **kwargs))
            return outputs[call]

        return replayed


@contextmanager
def attach(
    modules: nn.Module | Iterable[nn.Module], decoding: Decoding, constant: Iterable[nn.Module] = ()
) -> Iterator[Decoding]:
    """Run the forward passes of `modules` (and of the modules inside them) with `decoding`'s caches,
    and without them again afterwards. The `constant` modules (an encoder's, which read the same
    source on every pass) are replayed: they compute on the first pass only."""
    roots = [modules] if isinstance(modules, nn.Module) else modules
    users = {id(m): m for root in roots for m in root.modules() if hasattr(m, "decoding")}.values()
    replayed = list(constant)
    for user in users:
        user.decoding = decoding
    for module in replayed:  # an instance attribute: nn.Module's __call__ runs it in place of the class's
        module.forward = decoding.replay(module, module.forward)
    try:
        yield decoding
    finally:
        for user in users:
            user.decoding = None
        for module in replayed:
            del module.forward
