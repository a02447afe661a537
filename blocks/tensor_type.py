"""The type of a value flowing between blocks: its per-example dimensions and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .dims import Dim, is_known, show


@dataclass(frozen=True)
class TensorType:
    """Per-example shape (the batch is implicit and leading at run time) and kind.

    kind: "float" — a float tensor; "tokens" — integer ids; "graph" — node features `[nodes, F]`
    of a batch of graphs whose edges travel alongside (ordinary blocks act on the features).
    """

    dims: tuple[Dim, ...]
    kind: str = "float"

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def known(self) -> bool:
        return all(is_known(d) for d in self.dims)

    def with_dims(self, dims: tuple[Dim, ...] | list[Dim]) -> TensorType:
        """Same kind, new dims; tokens become floats once a block has computed on them."""
        kind = "float" if self.kind == "tokens" else self.kind
        return replace(self, dims=tuple(dims), kind=kind)

    def __str__(self) -> str:
        inner = f"[{', '.join(show(d) for d in self.dims)}]"
        return inner if self.kind == "float" else f"{self.kind}{inner}"
