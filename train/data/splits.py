"""The shapes data takes in training: splits that hand out batches by example index, and the
seeded train/validation/test partition every data set uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import torch


@dataclass
class Batch:
    inputs: dict[str, object]  # by model input name: tensors (batch first) or graph objects
    target: torch.Tensor | None  # None: rows without targets (a probe of other data)
    mask: torch.Tensor | None = None  # which targets count (node classification)

    def to(self, device: torch.device, pin: bool = False) -> Batch:
        def move(value):
            if isinstance(value, torch.Tensor):
                value = value.pin_memory() if pin else value
                return value.to(device, non_blocking=pin)
            if isinstance(value, SimpleNamespace):
                return SimpleNamespace(**{k: move(v) for k, v in vars(value).items()})
            return value

        return Batch({k: move(v) for k, v in self.inputs.items()}, move(self.target), move(self.mask))

    @property
    def size(self) -> int:
        return int(self.mask.sum()) if self.mask is not None else int(self.target.shape[0])


@dataclass
class TensorSplit:
    """Examples as tensors with the example axis first: one per model input, and the targets (None:
    rows without targets, which a probe reads and training never sees)."""

    inputs: dict[str, torch.Tensor]
    target: torch.Tensor | None
    labels: torch.Tensor | None = None  # classes kept beside another target (digits of a reconstruction), for probes

    def __len__(self) -> int:
        rows = self.target if self.target is not None else next(iter(self.inputs.values()))
        return int(rows.shape[0])

    def batch(self, index: torch.Tensor) -> Batch:
        return Batch({k: v[index] for k, v in self.inputs.items()}, None if self.target is None else self.target[index])


@dataclass
class GraphListSplit:
    """One graph per example (graph classification): node features and edges, collated PyG-style."""

    name: str
    graphs: list[tuple]  # (x (nodes, F), edge_index (2, E)[, per-node and per-edge extras by name])
    target: torch.Tensor

    def __len__(self) -> int:
        return len(self.graphs)

    def batch(self, index: torch.Tensor) -> Batch:
        chosen = [self.graphs[i] for i in index.tolist()]
        return Batch({self.name: collate_graphs(chosen)}, self.target[index])


def collate_graphs(graphs: list[tuple]) -> SimpleNamespace:
    """One batch of graphs, PyG-style; extras (node_type, edge_type, edge_weight …) are joined alike."""
    xs, edges, owner, extras, offset = [], [], [], {}, 0
    for i, (x, edge_index, *rest) in enumerate(graphs):
        xs.append(x)
        edges.append(edge_index + offset)
        owner.append(torch.full((x.shape[0],), i, dtype=torch.long))
        offset += x.shape[0]
        for key, value in (rest[0] if rest else {}).items():
            extras.setdefault(key, []).append(value)
    return SimpleNamespace(
        x=torch.cat(xs),
        edge_index=torch.cat(edges, dim=1),
        batch=torch.cat(owner),
        num_graphs=len(graphs),
        **{key: torch.cat(values) for key, values in extras.items()},
    )


@dataclass
class NodeSplit:
    """One graph whose nodes are the examples (node classification): every batch is the whole graph,
    and `mask` picks the nodes of this split."""

    name: str
    x: torch.Tensor
    edge_index: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    graph: SimpleNamespace = field(init=False)

    def __post_init__(self):
        self.graph = SimpleNamespace(
            x=self.x, edge_index=self.edge_index, batch=torch.zeros(len(self.x), dtype=torch.long), num_graphs=1
        )

    def __len__(self) -> int:
        return 1

    def batch(self, index: torch.Tensor) -> Batch:
        return Batch({self.name: self.graph}, self.target, self.mask)


def partition(
    count: int, seed: int, val: float, test: float, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded (train, val, test) index sets; with `labels`, stratified (each class split alike)."""
    generator = torch.Generator().manual_seed(seed)
    groups = (
        [torch.arange(count)] if labels is None else [torch.nonzero(labels == c).flatten() for c in labels.unique()]
    )
    train, valid, tests = [], [], []
    for group in groups:
        order = group[torch.randperm(len(group), generator=generator)]
        n_test = max(1, round(len(order) * test))
        n_val = max(1, round(len(order) * val))
        tests.append(order[:n_test])
        valid.append(order[n_test : n_test + n_val])
        train.append(order[n_test + n_val :])
    return (torch.cat(train).sort().values, torch.cat(valid).sort().values, torch.cat(tests).sort().values)
