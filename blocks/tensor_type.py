"""The type of a value flowing between blocks: its per-example dimensions and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .dims import Dim, is_known, show


@dataclass(frozen=True)
class GraphSchema:
    """The node and edge types of a heterogeneous graph, as PyG's `HeteroData.metadata()`.

    Edge types are (source node type, relation, target node type) triples. At run time the graph
    arrives in one index space (PyG's `to_homogeneous()`): `node_type[i]` numbers node i's type in
    `node_types`, `edge_type[e]` numbers edge e's type in `edge_types`.
    """

    node_types: tuple[str, ...] = ()
    edge_types: tuple[tuple[str, str, str], ...] = ()

    def __str__(self) -> str:
        return f"{len(self.node_types)} node types, {len(self.edge_types)} edge types"


@dataclass(frozen=True)
class TensorType:
    """Per-example shape (the batch is implicit and leading at run time) and kind.

    kind: "float" — a float tensor; "tokens" — integer ids; "graph" — node features `[nodes, F]`
    of a batch of graphs whose edges travel alongside (ordinary blocks act on the features);
    "edges" — one value per node pair of a batch of graphs (link scores). Graph and edge values
    have no batch axis at run time: the batch's graphs are stacked along the first axis, as in
    PyTorch Geometric. `schema` gives a heterogeneous graph's node and edge types.
    """

    dims: tuple[Dim, ...]
    kind: str = "float"
    schema: GraphSchema | None = None

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
        text = inner if self.kind == "float" else f"{self.kind}{inner}"
        return text if self.schema is None else f"{text} ({self.schema})"
