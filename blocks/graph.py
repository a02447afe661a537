"""Graph family: message-passing layers over a batch of graphs, with PyTorch Geometric's layouts —
the blocks' declarations; their modules are in `graph_layers.py`.

FLOPs count the dense transforms per node; the sums over edges depend on the edge count, which is
known only at run time, and are left out.
"""

from __future__ import annotations

from .graph_layers import ChebLayer, GATLayer, GCNLayer, GINLayer, GKANLayer
from .kan import SPLINE_ARGS, kan_kwargs
from .kan import _range as kan_range
from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import known_size
from .tensor_type import TensorType

GRAPH = Family(
    "graph",
    "#fdae6b",
    "Message passing over a batch of graphs, with PyTorch Geometric's layouts.",
    paper="Kipf & Welling 2017; Veličković et al. 2018",
)


# -- declarations --------------------------------------------------------------------------------


def node_features(inputs) -> int:
    """The width F of graph node features [nodes, F], which sizes a layer's weights."""
    x = inputs[0]
    if x.rank != 2:
        raise ShapeError(f"expects node features graph[nodes, F], got {x}")
    return known_size(x.dims[1], "the node features (last dimension)")


def _nodes(inputs):
    return inputs[0].dims[0]


def _out(inputs, width: int) -> TensorType:
    return inputs[0].with_dims([_nodes(inputs), width])


_BIAS = Arg("bias", "bool", True, "add a learned bias")
_GRAPH = {"family": "graph", "graph": True, "accepts": ("graph",)}


@block(
    "gcn",
    args=(Arg("out", "int", doc="output features per node", low=1), _BIAS),
    params=lambda inputs, a: node_features(inputs) * a.out + (a.out if a.bias else 0),
    flops=lambda inputs, out, a: 2 * _nodes(inputs) * node_features(inputs) * a.out,
    module=lambda inputs, a: Construct(
        GCNLayer, {"in_features": node_features(inputs), "out_features": a.out, "bias": a.bias}
    ),
    example=("graph[6, 8]", "gcn(4)"),
    **_GRAPH,
)
def gcn(inputs, a):
    """Graph convolution (Kipf & Welling 2017, arXiv:1609.02907): each node takes the degree-normalised
    sum of its neighbours' and its own transformed features, D^-1/2 (A + I) D^-1/2 X W + b, with
    edge weights when the graph has `edge_weight`; PyG's GCNConv layout (weight [out, in], bias [out]).

    Shapes: graph[nodes, F] -> graph[nodes, out].
    """
    node_features(inputs)
    return _out(inputs, a.out)


@block(
    "cheb",
    args=(
        Arg("out", "int", doc="output features per node", low=1),
        Arg("k", "int", doc="Chebyshev polynomials T_0 … T_(k-1): each node sees k - 1 hops", low=1),
        _BIAS,
    ),
    params=lambda inputs, a: a.k * node_features(inputs) * a.out + (a.out if a.bias else 0),
    flops=lambda inputs, out, a: 2 * a.k * _nodes(inputs) * node_features(inputs) * a.out,
    module=lambda inputs, a: Construct(
        ChebLayer, {"in_features": node_features(inputs), "out_features": a.out, "k": a.k, "bias": a.bias}
    ),
    example=("graph[6, 8]", "cheb(4, 3)"),
    **_GRAPH,
)
def cheb(inputs, a):
    """Chebyshev spectral graph convolution (Defferrard et al. 2016, arXiv:1606.09375): a k-term
    polynomial of the scaled symmetric-normalised Laplacian, Σ T_k(L̃) X W_k + b, with λmax = 2 as
    PyG's default; PyG's ChebConv layout (k weights [out, in] without bias, one bias [out]).

    Shapes: graph[nodes, F] -> graph[nodes, out].
    """
    node_features(inputs)
    return _out(inputs, a.out)


def _gat_width(a) -> int:
    return a.out * a.heads if a.concat else a.out


def _gat_params(inputs, a) -> int:
    hc = a.heads * a.out
    edges = (a.edge_dim * hc + hc) if a.edge_dim else 0
    return node_features(inputs) * hc + 2 * hc + edges + (_gat_width(a) if a.bias else 0)


@block(
    "gat",
    args=(
        Arg("out", "int", doc="output features per node and head", low=1),
        Arg("heads", "int", 1, "attention heads", low=1),
        Arg("concat", "bool", True, "concatenate the heads (out·heads features) or average them (out)"),
        Arg("dropout", "float", 0.0, "dropout on the attention weights (training only)", low=0.0, below=1.0),
        Arg("edge_dim", "int", None, "width of the graph's `edge_attr`, to let edge features into the scores", low=1),
        _BIAS,
    ),
    params=_gat_params,
    flops=lambda inputs, out, a: 2 * _nodes(inputs) * node_features(inputs) * a.heads * a.out,
    module=lambda inputs, a: Construct(
        GATLayer,
        {
            "in_features": node_features(inputs),
            "out_features": a.out,
            "heads": a.heads,
            "concat": a.concat,
            "dropout": a.dropout,
            "edge_dim": a.edge_dim,
            "bias": a.bias,
        },
    ),
    example=("graph[6, 8]", "gat(4, heads = 2)"),
    **_GRAPH,
)
def gat(inputs, a):
    """Graph attention (Veličković et al. 2018, arXiv:1710.10903): each node attends over its
    in-neighbours and itself (LeakyReLU 0.2 scores, softmax over the incoming edges), per head; heads
    concatenated or averaged. PyG's GATConv layout: lin [heads·out, in], att_src and att_dst
    [1, heads, out], bias [heads·out] (or [out] with concat = false).

    Shapes: graph[nodes, F] -> graph[nodes, out·heads] (concat) or graph[nodes, out].
    """
    node_features(inputs)
    return _out(inputs, _gat_width(a))


def _gin_hidden(a) -> int:
    return a.hidden if a.hidden is not None else a.out


@block(
    "gin",
    args=(
        Arg("out", "int", doc="output features per node", low=1),
        Arg("hidden", "int", None, "width of the MLP's hidden layer (default: out)", low=1),
        Arg("eps", "float", 0.0, "fixed ε: the node's own features count 1 + ε times"),
    ),
    params=lambda inputs, a: (node_features(inputs) + 1) * _gin_hidden(a) + (_gin_hidden(a) + 1) * a.out,
    flops=lambda inputs, out, a: 2 * _nodes(inputs) * _gin_hidden(a) * (node_features(inputs) + a.out),
    module=lambda inputs, a: Construct(
        GINLayer,
        {"in_features": node_features(inputs), "out_features": a.out, "hidden": _gin_hidden(a), "eps": a.eps},
    ),
    example=("graph[6, 8]", "gin(4, hidden = 16)"),
    **_GRAPH,
)
def gin(inputs, a):
    """Graph isomorphism network layer (Xu et al. 2019, arXiv:1810.00826): an MLP of the node's
    features plus the sum of its in-neighbours', MLP((1 + ε) h + Σ h_j), ε fixed. The MLP is
    Linear(F, hidden) -> ReLU -> Linear(hidden, out) (PyG's GINConv with train_eps = false).

    Shapes: graph[nodes, F] -> graph[nodes, out].
    """
    node_features(inputs)
    return _out(inputs, a.out)


@block(
    "gkan",
    args=(
        Arg("out", "int", doc="output features per node", low=1),
        *SPLINE_ARGS,
    ),
    params=lambda inputs, a: a.out * node_features(inputs) * (a.grid + a.order + 2),
    flops=lambda inputs, out, a: 2 * _nodes(inputs) * a.out * node_features(inputs) * (a.grid + a.order + 1),
    module=lambda inputs, a: Construct(GKANLayer, kan_kwargs(node_features(inputs), a)),
    example=("graph[6, 3]", "gkan(4, grid = 4)"),
    **_GRAPH,
)
def gkan(inputs, a):
    """Graph Kolmogorov–Arnold layer (GKAN, Kiamari et al. 2024, arXiv:2406.06470): the GCN's
    normalised neighbourhood sum D^-1/2 (A + I) D^-1/2 H, then a KAN layer — learned B-spline
    functions on every edge of the update (see `kan`) — in place of the linear map.

    Shapes: graph[nodes, F] -> graph[nodes, out].
    """
    node_features(inputs)
    kan_range(a)
    return _out(inputs, a.out)
