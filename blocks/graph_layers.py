"""The graph family's modules: message-passing layers over a batch of graphs, with PyTorch
Geometric's parameter layouts (their declarations are in `graph.py`).

A graph value is node features `(N, F)` — every graph of the batch stacked, as PyG does — and its
graph object (`edge_index`, optional `batch`, `edge_weight`, `edge_attr`), which the generated code
passes as `graph=`. Edges run source -> target (`edge_index[0]` -> `edge_index[1]`); a node gathers
messages over its incoming edges with `scatter_add_` / `scatter_reduce`, so no extension is needed.
Rows are gathered per edge with `index_select`, whose backward is one `index_add_` (advanced
indexing, `h[source]`, was ~4× slower forward on a CPU and sorts the indices in its backward).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .kan import KANLayer


class GraphLayer(nn.Module):
    """Shared plumbing of the graph layers: edge weights, self loops, sums and softmaxes over each
    node's incoming edges, and per-graph counts."""

    @staticmethod
    def edge_weights(graph, x):
        """The graph's `edge_weight` (E,), or ones."""
        weight = getattr(graph, "edge_weight", None)
        return x.new_ones(graph.edge_index.shape[1]) if weight is None else weight.to(x.dtype)

    @staticmethod
    def gather_sum(values, index, size):
        """Row i of the result is the sum of the `values` rows whose `index` is i (scatter_add_ is
        ~15% faster than index_add_ forward+backward on an H100, and level on a CPU)."""
        index = index.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
        return values.new_zeros((size, *values.shape[1:])).scatter_add_(0, index, values)

    @staticmethod
    def with_self_loops(graph, x, fill=1.0):
        """Sources, targets and weights with one self loop per node appended; a loop already in the
        graph gives its weight to the new one and drops to weight 0 (`dropped` marks it)."""
        nodes = x.shape[0]
        source, target = graph.edge_index
        weight = GraphLayer.edge_weights(graph, x)
        dropped = source == target
        loops = torch.arange(nodes, device=source.device)
        had_loop = GraphLayer.gather_sum(dropped.to(x.dtype), source, nodes) > 0
        old_weight = GraphLayer.gather_sum(weight * dropped, source, nodes)
        loop_weight = torch.where(had_loop, old_weight, torch.full_like(old_weight, fill))
        return (
            torch.cat([source, loops]),
            torch.cat([target, loops]),
            torch.cat([weight.masked_fill(dropped, 0.0), loop_weight]),
            torch.cat([dropped, dropped.new_zeros(nodes)]),
        )

    @staticmethod
    def normalized_adjacency(graph, x):
        """Sources, targets and the entries of D^-1/2 (A + I) D^-1/2 per edge, self loops added,
        D the weighted in-degree of A + I (Kipf & Welling's renormalisation)."""
        source, target, weight, _ = GraphLayer.with_self_loops(graph, x)
        degree = GraphLayer.gather_sum(weight, target, x.shape[0])
        scale = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
        return source, target, scale.index_select(0, source) * weight * scale.index_select(0, target)

    @staticmethod
    def graph_count(graph, batch):
        """How many graphs the batch holds: `num_graphs` when given, else read from `batch`."""
        count = getattr(graph, "num_graphs", None)
        if count is not None:
            return int(count)
        return 1 if batch is None else int(batch.max()) + 1


class GCNLayer(GraphLayer):
    """Graph convolution (Kipf & Welling 2017): H' = D^-1/2 (A + I) D^-1/2 H W + b, where D counts
    the weighted in-degree of A + I. Layout of PyG's GCNConv: `lin` without bias, then `bias`."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.lin = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.xavier_uniform_(self.lin.weight)

    def forward(self, x, graph):
        source, target, norm = self.normalized_adjacency(graph, x)
        h = self.lin(x)  # (N, out)
        out = self.gather_sum(norm[:, None] * h.index_select(0, source), target, x.shape[0])
        return out if self.bias is None else out + self.bias


class ChebLayer(GraphLayer):
    """Chebyshev spectral convolution (Defferrard et al. 2016): Σ_k T_k(L̃) X W_k + b, with T_0 = I,
    T_1 = L̃, T_k = 2 L̃ T_(k-1) - T_(k-2), and L̃ = 2 L / λmax - I the scaled Laplacian of
    L = I - D^-1/2 A D^-1/2 (self loops left out of A). λmax = 2, PyG's default, so L̃ = -D^-1/2 A D^-1/2.
    Layout of PyG's ChebConv: `lins`, k linear maps without bias, then `bias`."""

    def __init__(self, in_features, out_features, k, bias=True):
        super().__init__()
        self.lins = nn.ModuleList(nn.Linear(in_features, out_features, bias=False) for _ in range(k))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        for lin in self.lins:
            nn.init.xavier_uniform_(lin.weight)

    def forward(self, x, graph):
        nodes = x.shape[0]
        source, target = graph.edge_index
        weight = self.edge_weights(graph, x).masked_fill(source == target, 0.0)
        degree = self.gather_sum(weight, source, nodes)
        scale = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
        norm = -scale.index_select(0, source) * weight * scale.index_select(0, target)  # (E,) entries of L̃

        def propagate(h, factor):  # factor · L̃ h
            return self.gather_sum((factor * norm)[:, None] * h.index_select(0, source), target, nodes)

        out = self.lins[0](x)
        previous, current = x, x
        for k, lin in enumerate(self.lins[1:], start=1):
            # T_k = 2 L̃ T_(k-1) - T_(k-2): the 2 rides on the edge weights, not on an (N, F) tensor
            previous, current = current, propagate(current, 1.0) if k == 1 else propagate(current, 2.0) - previous
            out = torch.addmm(out, current, lin.weight.t())  # out + current Wᵀ in one kernel
        return out if self.bias is None else out + self.bias


class GATLayer(GraphLayer):
    """Graph attention (Veličković et al. 2018): each node attends over its in-neighbours and itself,
    α_ij = softmax_j(LeakyReLU_0.2(a_src · W h_j + a_dst · W h_i [+ a_edge · W_e e_ij])), per head;
    heads are concatenated or averaged. Layout of PyG's GATConv: `lin` [heads·out, in] without bias,
    `att_src`, `att_dst` [1, heads, out], with edge features `lin_edge` and `att_edge`, then `bias`."""

    def __init__(self, in_features, out_features, heads=1, concat=True, dropout=0.0, edge_dim=None, bias=True):
        super().__init__()
        self.heads, self.out_features, self.concat, self.dropout = heads, out_features, concat, dropout
        self.lin = nn.Linear(in_features, heads * out_features, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_features))
        self.lin_edge = nn.Linear(edge_dim, heads * out_features, bias=False) if edge_dim else None
        self.att_edge = nn.Parameter(torch.empty(1, heads, out_features)) if edge_dim else None
        self.bias = nn.Parameter(torch.zeros(heads * out_features if concat else out_features)) if bias else None
        for weight in (self.lin.weight, self.att_src, self.att_dst):
            nn.init.xavier_uniform_(weight)
        if edge_dim:
            nn.init.xavier_uniform_(self.lin_edge.weight)
            nn.init.xavier_uniform_(self.att_edge)

    def forward(self, x, graph):
        nodes = x.shape[0]
        h = self.lin(x).view(nodes, self.heads, self.out_features)  # (N, H, C)
        source, target = graph.edge_index
        edges, loops = self.scores(h, graph)  # (E, H), (N, H)
        # The softmax over each node's in-edges and its self loop, in one pass for the maximum and one
        # for the sum; it is normalised per node after the messages are summed, not per edge.
        index = target[:, None].expand_as(edges)
        peak = loops.detach().scatter_reduce(0, index, edges.detach(), "amax")  # (N, H)
        weight = (edges - peak.index_select(0, target)).exp()  # (E, H), unnormalised
        loop_weight = (loops - peak).exp()  # (N, H)
        total = loop_weight.scatter_add(0, index, weight)  # (N, H), ≥ 1: the peak's own term is 1
        if self.training and self.dropout > 0:  # dropout of α_ij = dropout of its numerator, then / total
            weight, loop_weight = F.dropout(weight, self.dropout), F.dropout(loop_weight, self.dropout)
        messages = weight[:, :, None] * h.index_select(0, source)  # (E, H, C)
        out = (loop_weight[:, :, None] * h).scatter_add(0, target.view(-1, 1, 1).expand_as(messages), messages)
        out = out / total[:, :, None]  # (N, H, C)
        out = out.reshape(nodes, -1) if self.concat else out.mean(dim=1)
        return out if self.bias is None else out + self.bias

    def attention(self, h, graph):
        """The attention weights, spelled out for inspection (`forward` never builds them): sources,
        targets and weights (E + N, H) of the graph's edges, then of one self loop per node; the
        weights into each node sum to one."""
        edges, loops = self.scores(h, graph)
        every = torch.arange(h.shape[0], device=h.device)
        source, target = (torch.cat([ends, every]) for ends in graph.edge_index)
        scores = torch.cat([edges, loops])
        peak = scores.new_full(loops.shape, float("-inf")).scatter_reduce(
            0, target[:, None].expand_as(scores), scores, "amax"
        )
        weight = (scores - peak[target]).exp()
        return source, target, weight / self.gather_sum(weight, target, h.shape[0])[target]

    def scores(self, h, graph):
        """LeakyReLU scores (E, H) of the graph's edges and (N, H) of one new self loop per node. As
        PyG does, a self loop already in the graph is replaced: its edge scores -inf (weight 0)."""
        source, target = graph.edge_index
        from_source, to_target = (h * self.att_src).sum(-1), (h * self.att_dst).sum(-1)  # (N, H): a · W h per node
        edges = from_source.index_select(0, source) + to_target.index_select(0, target)
        loops = from_source + to_target
        replaced = source == target
        if self.lin_edge is not None:
            on_edges, on_loops = self.edge_scores(graph, h, replaced)
            edges, loops = edges + on_edges, loops + on_loops
        edges = F.leaky_relu(edges, 0.2).masked_fill(replaced[:, None], float("-inf"))
        return edges, F.leaky_relu(loops, 0.2)

    def edge_scores(self, graph, h, replaced):
        """a_edge · W_e e per edge (E, H) and per new self loop (N, H), whose e is the mean features of
        the node's other in-edges: through (W_eᵀ a_edge) per head, so no (E, H, C) tensor is built."""
        attr = graph.edge_attr.to(h.dtype)
        attr = attr.view(attr.shape[0], -1)  # (E, D)
        target, nodes = graph.edge_index[1], h.shape[0]
        real = (~replaced)[:, None].to(h.dtype)
        counts = self.gather_sum(real, target, nodes).clamp(min=1)
        loop_attr = self.gather_sum(attr * real, target, nodes) / counts  # (N, D)
        per_head = self.lin_edge.weight.view(self.heads, self.out_features, -1) * self.att_edge[0, :, :, None]
        projection = per_head.sum(1).t()  # (D, H)
        return attr @ projection, loop_attr @ projection


class GINLayer(GraphLayer):
    """Graph isomorphism network layer (Xu et al. 2019): h' = MLP((1 + ε) h + Σ_(j -> i) h_j), ε fixed.
    The MLP is `mlp` = Linear(in, hidden) -> ReLU -> Linear(hidden, out), as PyG's GIN example passes
    to GINConv(nn, train_eps=False)."""

    def __init__(self, in_features, out_features, hidden, eps=0.0):
        super().__init__()
        self.eps = eps
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))

    def forward(self, x, graph):
        source, target = graph.edge_index
        neighbours = x.index_select(0, source)  # (E, F)
        own = x if self.eps == 0 else (1 + self.eps) * x
        return self.mlp(own.scatter_add(0, target[:, None].expand_as(neighbours), neighbours))  # no zeros, no add


class GKANLayer(GraphLayer, KANLayer):
    """GKAN (Kiamari et al. 2024), its first architecture: the GCN neighbourhood sum, then a KAN
    layer as the update, H' = KAN(D^-1/2 (A + I) D^-1/2 H). KANLayer's parameters, no bias."""

    def forward(self, x, graph):
        source, target, norm = self.normalized_adjacency(graph, x)
        return super().forward(self.gather_sum(norm[:, None] * x.index_select(0, source), target, x.shape[0]))
