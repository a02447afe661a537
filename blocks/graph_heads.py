"""Graph readouts and heads: per-graph pooling (the graph branch of `pool`) and link scores."""

from __future__ import annotations

import torch
from torch import nn

from .dims import Poly
from .graph import node_features
from .graph_layers import GraphLayer
from .registry import Construct, block
from .tensor_type import TensorType


class GraphPool(GraphLayer):
    """Per-graph readout: the mean, sum or maximum of each graph's node features, graph membership
    read from `batch` (absent: one graph)."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x, graph):
        batch = getattr(graph, "batch", None)
        if batch is None:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        count = self.graph_count(graph, batch)
        if self.mode == "max":
            empty = x.new_zeros(count, x.shape[1])
            return empty.scatter_reduce(0, batch[:, None].expand_as(x), x, "amax", include_self=False)
        total = self.gather_sum(x, batch, count)  # (graphs, F)
        if self.mode == "sum":
            return total
        return total / self.gather_sum(x.new_ones(x.shape[0]), batch, count).clamp(min=1)[:, None]


class LinkScore(nn.Module):
    """Link prediction by dot products (the inner-product decoder of Kipf & Welling 2016): the
    score of a node pair (i, j) is h_i · h_j, for each pair of `edge_label_index` (PyG's name for the
    pairs to score), or of `edge_index` when the graph has none."""

    def forward(self, x, graph):
        pairs = getattr(graph, "edge_label_index", None)
        if pairs is None:
            pairs = graph.edge_index
        return (x[pairs[0]] * x[pairs[1]]).sum(dim=-1)  # (pairs,)


@block(
    "link",
    args=(),
    flops=lambda inputs, out, a: 2 * inputs[0].dims[0] * node_features(inputs),
    module=lambda inputs, a: Construct(LinkScore),
    example=("graph[6, 8]", "link"),
    family="graph",
    graph=True,
    accepts=("graph",),
)
def link(inputs, a):
    """Link-prediction head: the dot product h_i · h_j of two nodes' embeddings for each pair to
    score — the graph's `edge_label_index` (2, pairs), or its edges when it has none (the
    inner-product decoder of Kipf & Welling 2016, arXiv:1611.07308). Follow with `sigmoid` for
    probabilities. FLOPs are counted as one pair per node.

    Shapes: graph[nodes, F] -> edges[pairs] (one score per pair; pairs is a run-time size).
    """
    node_features(inputs)
    return TensorType((Poly.symbol("pairs"),), "edges")
