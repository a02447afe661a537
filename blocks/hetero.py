"""Heterogeneous graphs: layers that read node and edge types (`graph[…, nodes = […], edges = […]]`).

At run time a typed graph is one index space, as PyG's `HeteroData.to_homogeneous()` gives it:
node features `x` of one width, `edge_index`, and `node_type` / `edge_type` numbering each node's
and edge's type in the order the spec declares them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .graph import node_features
from .graph_layers import GraphLayer
from .registry import Arg, Construct, ShapeError, block
from .tensor_type import GraphSchema

_SYNTAX = "declare the types: graph[n, F, nodes = [gene, drug], edges = [[drug, targets, gene]]]"


class RGCNLayer(GraphLayer):
    """Relational graph convolution (Schlichtkrull et al. 2018): h_i' = h_i W_root + Σ_r mean_(j ∈ N_r(i)) h_j W_r + b,
    one weight per edge type r, or W_r = Σ_b a_rb V_b over shared bases. Layout of PyG's RGCNConv:
    `weight` [relations, in, out] (with bases: [bases, in, out] and `comp` [relations, bases]),
    `root` [in, out], `bias` [out]."""

    def __init__(self, in_features, out_features, relations, bases=None, bias=True):
        super().__init__()
        self.relations, self.in_features, self.out_features = relations, in_features, out_features
        bound = math.sqrt(6 / (in_features + out_features))
        self.weight = nn.Parameter(torch.empty(bases or relations, in_features, out_features).uniform_(-bound, bound))
        self.comp = nn.Parameter(torch.empty(relations, bases).uniform_(-1, 1) / bases) if bases else None
        self.root = nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x, graph):
        nodes, relations = x.shape[0], self.relations
        weight = self.weight
        if self.comp is not None:
            weight = (self.comp @ weight.flatten(1)).view(relations, self.in_features, self.out_features)
        source, target = graph.edge_index
        slot = target * relations + graph.edge_type  # (E,) one mean per node and relation
        counts = self.gather_sum(x.new_ones(slot.shape[0]), slot, nodes * relations).clamp(min=1)
        mean = self.gather_sum(x.index_select(0, source), slot, nodes * relations) / counts[:, None]
        out = torch.einsum("nri,rio->no", mean.view(nodes, relations, -1), weight) + x @ self.root
        return out if self.bias is None else out + self.bias


class TypedLinear(GraphLayer):
    """One affine map per node type, y_i = x_i W_t(i) + b_t(i). Layout of PyG's HeteroLinear:
    `weight` [types, in, out], `bias` [types, out]."""

    def __init__(self, in_features, out_features, types, bias=True):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(types, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(types, out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x, graph):
        out = x.new_zeros(x.shape[0], self.weight.shape[2])
        for t in range(self.weight.shape[0]):
            rows = (graph.node_type == t).nonzero().squeeze(1)
            y = x[rows] @ self.weight[t]
            out = out.index_copy(0, rows, y if self.bias is None else y + self.bias[t])
        return out


def _schema(inputs, need: str) -> GraphSchema:
    schema = inputs[0].schema
    if schema is None or not getattr(schema, need):
        what = "node types" if need == "node_types" else "edge types"
        raise ShapeError(f"needs a graph with {what}, got {inputs[0]}", _SYNTAX)
    return schema


def _relations(inputs) -> int:
    return len(_schema(inputs, "edge_types").edge_types)


def _rgcn_params(inputs, a) -> int:
    features, relations = node_features(inputs), _relations(inputs)
    weights = a.bases * features * a.out + relations * a.bases if a.bases else relations * features * a.out
    return weights + features * a.out + (a.out if a.bias else 0)


@block(
    "rgcn",
    family="graph",
    args=(
        Arg("out", "int", doc="output features per node", low=1),
        Arg("bases", "int", None, "share this many basis weights among the edge types (basis decomposition)", low=1),
        Arg("bias", "bool", True, "add a learned bias"),
    ),
    params=_rgcn_params,
    flops=lambda inputs, out, a: 2 * inputs[0].dims[0] * node_features(inputs) * a.out * (_relations(inputs) + 1),
    module=lambda inputs, a: Construct(
        RGCNLayer,
        {
            "in_features": node_features(inputs),
            "out_features": a.out,
            "relations": _relations(inputs),
            "bases": a.bases,
            "bias": a.bias,
        },
    ),
    graph=True,
    accepts=("graph",),
    example=("graph[6, 8, nodes = [a, b], edges = [[a, to, b], [b, to, a], [a, near, a]]]", "rgcn(4, bases = 2)"),
)
def rgcn(inputs, a):
    """Relational graph convolution (Schlichtkrull et al. 2018, arXiv:1703.06103): one weight per edge
    type, h_i' = h_i W_root + Σ_r mean over i's in-neighbours by type r of h_j W_r + b; with `bases`,
    each W_r mixes shared basis weights. Add inverse edge types to let messages flow both ways.
    PyG's RGCNConv layout (aggr = mean).

    Shapes: graph[nodes, F] with edge types -> graph[nodes, out].
    """
    node_features(inputs)
    if a.bases and a.bases > _relations(inputs):
        raise ShapeError(f"bases = {a.bases} is more than the {_relations(inputs)} edge types", "use fewer bases")
    return inputs[0].with_dims([inputs[0].dims[0], a.out])


def _types(inputs) -> int:
    return len(_schema(inputs, "node_types").node_types)


@block(
    "typed_dense",
    family="graph",
    args=(Arg("out", "int", doc="output features per node", low=1), Arg("bias", "bool", True, "add a learned bias")),
    params=lambda inputs, a: _types(inputs) * (node_features(inputs) + (1 if a.bias else 0)) * a.out,
    flops=lambda inputs, out, a: 2 * inputs[0].dims[0] * node_features(inputs) * a.out,
    module=lambda inputs, a: Construct(
        TypedLinear,
        {"in_features": node_features(inputs), "out_features": a.out, "types": _types(inputs), "bias": a.bias},
    ),
    graph=True,
    accepts=("graph",),
    example=("graph[6, 8, nodes = [a, b]]", "typed_dense(4)"),
)
def typed_dense(inputs, a):
    """A dense layer per node type (the type-specific projections of heterogeneous GNNs, as in
    Schlichtkrull et al. 2018's typed entities): node i of type t gets x_i W_t + b_t. Types whose
    features differ in width come zero-padded to one width F. PyG's HeteroLinear layout.

    Shapes: graph[nodes, F] with node types -> graph[nodes, out].
    """
    node_features(inputs)
    _types(inputs)
    return inputs[0].with_dims([inputs[0].dims[0], a.out])
