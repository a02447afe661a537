"""Graph blocks against dense matrix formulas, their PyG parameter counts, receptive fields,
per-graph pooling, grid graphs and typed (heterogeneous) graphs."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors


def graph_model(pipeline: str, input_type: str = "graph[n, 8]") -> str:
    return f"model m {{\n    input g: {input_type}\n    g -> {pipeline} as y\n    output y\n}}\n"


def undirected(pairs, **extra) -> SimpleNamespace:
    """A graph from (i, j) pairs, each edge in both directions; node features given in `extra`."""
    source = [i for i, j in pairs] + [j for i, j in pairs]
    target = [j for i, j in pairs] + [i for i, j in pairs]
    return SimpleNamespace(edge_index=torch.tensor([source, target]), **extra)


def random_graph(nodes: int = 7, features: int = 8, seed: int = 0) -> SimpleNamespace:
    """A random undirected graph (some isolated nodes likely) with positive edge weights."""
    generator = torch.Generator().manual_seed(seed)
    pairs = [(i, j) for i in range(nodes) for j in range(i + 1, nodes) if torch.rand(1, generator=generator) < 0.35]
    graph = undirected(pairs, x=torch.randn(nodes, features, generator=generator))
    half = torch.rand(len(pairs), generator=generator) + 0.5
    graph.edge_weight = torch.cat([half, half])
    return graph


def adjacency(graph, nodes: int, weighted: bool = True) -> torch.Tensor:
    """Dense A with A[target, source] = the edge's weight (a node sums over its in-edges)."""
    weight = graph.edge_weight if weighted and getattr(graph, "edge_weight", None) is not None else None
    matrix = torch.zeros(nodes, nodes)
    values = weight if weight is not None else torch.ones(graph.edge_index.shape[1])
    matrix.index_put_((graph.edge_index[1], graph.edge_index[0]), values, accumulate=True)
    return matrix


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


TYPED = (
    "graph[n, 8, nodes = [gene, drug, disease],"
    " edges = [[drug, targets, gene], [gene, causes, disease], [drug, treats, disease]]]"
)


# -- parameter counts (PyG's layouts) --------------------------------------------------------------


@pytest.mark.parametrize(
    "input_type, pipeline, count",
    [
        ("graph[34, 34]", "gcn(16) -> relu -> gcn(4)", 628),  # GCNConv(34, 16) + GCNConv(16, 4)
        ("graph[34, 34]", "gat(8, heads = 8) -> elu -> gat(4)", 2_636),  # GATConv(34, 8, heads=8) + GATConv(64, 4)
        ("graph[34, 34]", "cheb(16, 3)", 1_648),  # ChebConv(34, 16, K=3)
        ("graph[34, 34]", "gat(8, heads = 2, concat = false)", 34 * 16 + 2 * 16 + 8),
        ("graph[34, 34]", "gat(8, heads = 2, edge_dim = 3)", 34 * 16 + 2 * 16 + 3 * 16 + 16 + 16),
        ("graph[34, 34]", "gcn(16, bias = false)", 34 * 16),
        ("graph[34, 34]", "gin(16)", (34 + 1) * 16 + (16 + 1) * 16),  # GINConv(MLP 34 -> 16 -> 16)
        ("graph[34, 34]", "gin(4, hidden = 32)", (34 + 1) * 32 + (32 + 1) * 4),
        ("graph[34, 34]", "gkan(4)", 4 * 34 * (5 + 3 + 2)),  # KAN's layout: base, spline and scale weights
        (TYPED, "rgcn(4)", 3 * 8 * 4 + 8 * 4 + 4),  # RGCNConv(8, 4, num_relations=3)
        (TYPED, "rgcn(4, bases = 2)", 2 * 8 * 4 + 3 * 2 + 8 * 4 + 4),  # … num_bases=2
        (TYPED, "typed_dense(4)", 3 * (8 * 4 + 4)),  # HeteroLinear(8, 4, num_types=3)
        ("graph[n, 8]", "link", 0),
        ("graph[n, 8]", "pool(max)", 0),
    ],
)
def test_parameter_counts_follow_pyg_layouts(input_type, pipeline, count):
    checked = check_spec(graph_model(pipeline, input_type))
    assert checked.summary().params == count
    assert parameters(checked.build(seed=0)) == count


def test_shapes():
    types = {
        "gcn(16)": "graph[n, 16]",
        "cheb(16, 2)": "graph[n, 16]",
        "gat(8, heads = 4)": "graph[n, 32]",
        "gat(8, heads = 4, concat = false)": "graph[n, 8]",
        "gin(5)": "graph[n, 5]",
        "pool(sum)": "[8]",
        "link": "edges[pairs]",
    }
    for pipeline, expected in types.items():
        assert str(check_spec(graph_model(pipeline)).output_types["y"]) == expected, pipeline
    assert str(check_spec(graph_model("rgcn(4)", TYPED)).output_types["y"]).startswith("graph[n, 4]")
    grid = "model m {\n input image: [3, 5, 6]\n image -> grid_graph as y\n output y\n}\n"
    assert str(check_spec(grid).output_types["y"]) == "graph[30, 3]"
    path = "model m {\n input s: [seq, 6]\n s -> grid_graph as y\n output y\n}\n"
    assert str(check_spec(path).output_types["y"]) == "graph[seq, 6]"


# -- each layer against its dense formula ----------------------------------------------------------


def test_gcn_equals_dense_normalised_adjacency():
    model = compile_spec(graph_model("gcn(5)"), seed=0).eval()
    graph = random_graph()
    nodes = graph.x.shape[0]
    a_hat = adjacency(graph, nodes) + torch.eye(nodes)
    d = a_hat.sum(dim=1).pow(-0.5)
    layer = model.y
    expected = d[:, None] * a_hat * d[None, :] @ graph.x @ layer.lin.weight.T + layer.bias
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)
    del graph.edge_weight  # unweighted: A counts each edge once
    a_hat = adjacency(graph, nodes, weighted=False) + torch.eye(nodes)
    d = a_hat.sum(dim=1).pow(-0.5)
    expected = d[:, None] * a_hat * d[None, :] @ graph.x @ layer.lin.weight.T + layer.bias
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


def test_gcn_keeps_an_existing_self_loop_weight():
    # as PyG's add_remaining_self_loops: a node with a loop keeps its weight; the others get 1
    model = compile_spec(graph_model("gcn(3)", "graph[n, 4]"), seed=0).eval()
    graph = undirected([(0, 1), (1, 2)], x=torch.randn(3, 4))
    graph.edge_index = torch.cat([graph.edge_index, torch.tensor([[0], [0]])], dim=1)
    graph.edge_weight = torch.tensor([1.0, 1.0, 1.0, 1.0, 3.0])
    a_hat = torch.tensor([[3.0, 1, 0], [1, 1, 1], [0, 1, 1]])
    d = a_hat.sum(dim=1).pow(-0.5)
    expected = d[:, None] * a_hat * d[None, :] @ graph.x @ model.y.lin.weight.T + model.y.bias
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_cheb_equals_dense_laplacian_polynomial(k):
    model = compile_spec(graph_model(f"cheb(5, {k})"), seed=0).eval()
    graph = random_graph(seed=k)
    nodes = graph.x.shape[0]
    a = adjacency(graph, nodes)
    degree = a.sum(dim=1)
    d = torch.where(degree > 0, degree.pow(-0.5), torch.zeros_like(degree))
    laplacian = torch.eye(nodes) - d[:, None] * a * d[None, :]  # L = I - D^-1/2 A D^-1/2
    scaled = 2.0 * laplacian / 2.0 - torch.eye(nodes)  # lambda_max = 2
    terms = [torch.eye(nodes), scaled]
    while len(terms) < k:
        terms.append(2 * scaled @ terms[-1] - terms[-2])
    layer = model.y
    expected = sum(t @ graph.x @ lin.weight.T for t, lin in zip(terms, layer.lins)) + layer.bias
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


def dense_gat(layer, x, a, concat=True):
    """GAT from the paper's formulas on a dense adjacency (self loops added)."""
    nodes, heads, out = x.shape[0], layer.heads, layer.out_features
    h = (x @ layer.lin.weight.T).view(nodes, heads, out)
    src = (h * layer.att_src).sum(-1)  # (N, H)
    dst = (h * layer.att_dst).sum(-1)
    scores = F.leaky_relu(dst.T[:, :, None] + src.T[:, None, :], 0.2)  # (H, target, source)
    allowed = (a + torch.eye(nodes)) > 0
    alpha = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    y = torch.einsum("hts,shc->thc", alpha, h)
    y = y.reshape(nodes, heads * out) if concat else y.mean(dim=1)
    return y + layer.bias


@pytest.mark.parametrize("concat", [True, False])
def test_gat_equals_dense_attention(concat):
    model = compile_spec(graph_model(f"gat(4, heads = 3, concat = {str(concat).lower()})"), seed=0).eval()
    graph = random_graph()
    expected = dense_gat(model.y, graph.x, adjacency(graph, graph.x.shape[0]), concat)
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


def test_gat_attention_sums_to_one_over_each_nodes_neighbours():
    model = compile_spec(graph_model("gat(4, heads = 3)"), seed=0).eval()
    graph = random_graph()
    nodes = graph.x.shape[0]
    graph.edge_index = torch.cat([graph.edge_index, torch.tensor([[2], [2]])], dim=1)  # a loop already there
    graph.edge_weight = torch.cat([graph.edge_weight, torch.ones(1)])
    h = model.y.lin(graph.x).view(nodes, 3, 4)
    source, target, alpha = model.y.attention(h, graph)
    sums = torch.zeros(nodes, 3).index_add_(0, target, alpha)
    torch.testing.assert_close(sums, torch.ones(nodes, 3))
    a = adjacency(graph, nodes, weighted=False).clamp(max=1) + torch.eye(nodes)
    for s, t, weights in zip(source.tolist(), target.tolist(), alpha):
        assert a[t, s] > 0 or torch.all(weights == 0)  # only neighbours and the node itself
    loops = (source == target).nonzero().squeeze(1)
    assert (alpha[loops] > 0).all(dim=1).sum() == nodes  # exactly one live self loop per node


def test_gat_edge_features_enter_the_scores():
    model = compile_spec(graph_model("gat(4, heads = 2, edge_dim = 3)"), seed=0).eval()
    graph = random_graph()
    graph.edge_attr = torch.randn(graph.edge_index.shape[1], 3)
    nodes = graph.x.shape[0]
    _, target, alpha = model.y.attention(model.y.lin(graph.x).view(nodes, 2, 4), graph)
    torch.testing.assert_close(torch.zeros(nodes, 2).index_add_(0, target, alpha), torch.ones(nodes, 2))
    before = model(graph)
    graph.edge_attr = graph.edge_attr + 1
    assert not torch.allclose(before, model(graph))


@pytest.mark.parametrize("concat", [True, False])
def test_gat_forward_is_the_attention_weighted_sum(concat):
    """`forward` normalises per node after summing; `attention` spells the weights out per edge."""
    model = compile_spec(graph_model(f"gat(4, heads = 3, concat = {str(concat).lower()})"), seed=0).eval()
    graph = random_graph()
    nodes = graph.x.shape[0]
    graph.edge_index = torch.cat([graph.edge_index, torch.tensor([[2], [2]])], dim=1)  # a loop already there
    h = model.y.lin(graph.x).view(nodes, 3, 4)
    source, target, alpha = model.y.attention(h, graph)
    out = torch.zeros(nodes, 3, 4).index_add_(0, target, alpha[:, :, None] * h[source])
    expected = (out.reshape(nodes, 12) if concat else out.mean(1)) + model.y.bias
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-6)


def test_gat_dropout_acts_on_the_attention_in_training_only():
    model = compile_spec(graph_model("gat(4, heads = 2, dropout = 0.5)"), seed=0)
    graph = random_graph()
    torch.manual_seed(0)
    first, second = model(graph), model(graph)
    assert torch.isfinite(first).all() and not torch.equal(first, second)
    model.eval()
    torch.testing.assert_close(model(graph), model(graph))
    model.y.dropout = 0.0
    model.train()
    torch.testing.assert_close(model(graph), model.eval()(graph))


def test_gin_is_an_mlp_of_the_neighbourhood_sum():
    model = compile_spec(graph_model("gin(5, hidden = 6, eps = 0.5)"), seed=0).eval()
    graph = random_graph()
    a = adjacency(graph, graph.x.shape[0], weighted=False)  # GIN ignores edge weights
    expected = model.y.mlp(1.5 * graph.x + a @ graph.x)
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


def test_gkan_is_a_kan_of_the_gcn_sum():
    from cramnet.blocks.kan import KANLayer

    model = compile_spec(graph_model("gkan(5, grid = 4, range = [-2, 2])"), seed=0).eval()
    graph = random_graph()
    nodes = graph.x.shape[0]
    a_hat = adjacency(graph, nodes) + torch.eye(nodes)
    d = a_hat.sum(dim=1).pow(-0.5)
    expected = KANLayer.forward(model.y, d[:, None] * a_hat * d[None, :] @ graph.x)
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


# -- receptive fields and batches ------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["gcn(4)", "gat(4, heads = 2)", "gin(4, hidden = 64)", "cheb(4, 2)", "gkan(4)"])
def test_receptive_field_grows_one_hop_per_layer(layer):
    """The lecture's picture on the path 0 - 1 - 2 - 3: after one layer node 0 reaches only its
    neighbour, after two its neighbour's neighbour, never further. (GIN's MLP is wide, so that
    not every ReLU is dead.)"""
    path = undirected([(0, 1), (1, 2), (2, 3)], x=torch.randn(4, 8, generator=torch.Generator().manual_seed(0)))
    nudged = SimpleNamespace(edge_index=path.edge_index, x=path.x.clone())
    nudged.x[0] += 1.0
    for layers, reached in ((1, [True, True, False, False]), (2, [True, True, True, False])):
        spec = graph_model(" -> tanh -> ".join([layer] * layers))
        model = compile_spec(spec, seed=0).eval()
        changed = (model(path) - model(nudged)).abs().amax(dim=1) > 1e-6
        assert changed.tolist() == reached, (layer, layers)


@pytest.mark.parametrize("mode", ["mean", "sum", "max"])
def test_a_batch_of_graphs_pools_per_graph(mode):
    model = compile_spec(graph_model(f"gcn(4) -> relu -> pool({mode})"), seed=0).eval()
    first = undirected([(0, 1), (1, 2)], x=torch.randn(3, 8))
    second = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], x=torch.randn(5, 8))
    batch = SimpleNamespace(
        x=torch.cat([first.x, second.x]),
        edge_index=torch.cat([first.edge_index, second.edge_index + 3], dim=1),
        batch=torch.tensor([0, 0, 0, 1, 1, 1, 1, 1]),
    )
    pooled = model(batch)
    assert pooled.shape == (2, 4)
    torch.testing.assert_close(pooled, torch.cat([model(first), model(second)]), rtol=1e-5, atol=1e-6)
    nodes = compile_spec(graph_model("gcn(4) -> relu"), seed=0).eval()(batch)
    reduce = {"mean": torch.mean, "sum": torch.sum, "max": torch.amax}[mode]
    torch.testing.assert_close(pooled, torch.stack([reduce(nodes[:3], 0), reduce(nodes[3:], 0)]))


def test_pool_of_a_graph_without_batch_is_one_graph():
    model = compile_spec(graph_model("pool(mean)"), seed=0)
    graph = undirected([(0, 1)], x=torch.randn(2, 8))
    torch.testing.assert_close(model(graph), graph.x.mean(dim=0, keepdim=True))


def test_link_scores_are_dot_products_of_given_pairs():
    model = compile_spec(graph_model("gcn(4) -> link"), seed=0).eval()
    graph = random_graph()
    embeddings = compile_spec(graph_model("gcn(4)"), seed=0).eval()(graph)
    graph.edge_label_index = torch.tensor([[0, 2, 5], [1, 6, 5]])
    torch.testing.assert_close(model(graph), (embeddings[[0, 2, 5]] * embeddings[[1, 6, 5]]).sum(-1))
    del graph.edge_label_index  # without pairs to score, the graph's own edges are scored
    assert model(graph).shape == (graph.edge_index.shape[1],)


# -- grid graphs -----------------------------------------------------------------------------------


def grid_of(input_type: str, call: str = "grid_graph"):
    spec = f"model m {{\n input x: {input_type}\n x -> {call} as y\n output y\n}}\n"
    return compile_spec(spec).y


def test_grid_graph_joins_neighbouring_pixels():
    image = torch.randn(2, 3, 3, 4)  # two 3x4 images of 3 channels
    nodes, graph = grid_of("[3, 3, 4]")(image)
    assert nodes.shape == (2 * 12, 3)
    torch.testing.assert_close(nodes[12 + 1 * 4 + 2], image[1, :, 1, 2])  # node h·W + w of image b
    assert graph.edge_index.shape[1] == 2 * 2 * (3 * 3 + 2 * 4)  # both directions, both images
    assert graph.batch.tolist() == [0] * 12 + [1] * 12 and graph.num_graphs == 2
    source, target = graph.edge_index
    assert (graph.batch[source] == graph.batch[target]).all()  # no edge between images
    rows, cols = (source % 12) // 4, (source % 12) % 4
    to_rows, to_cols = (target % 12) // 4, (target % 12) % 4
    assert ((rows - to_rows).abs() + (cols - to_cols).abs() == 1).all()
    _, diagonal = grid_of("[3, 3, 4]", "grid_graph(diagonal = true)")(image)
    assert diagonal.edge_index.shape[1] == 2 * 2 * (3 * 3 + 2 * 4 + 2 * 2 * 3)


def test_grid_graph_reads_a_sequence_as_a_path():
    sequence = torch.randn(2, 5, 6)
    nodes, graph = grid_of("[seq, 6]")(sequence)
    torch.testing.assert_close(nodes, sequence.reshape(10, 6))
    assert sorted(graph.edge_index[:, :4].T.tolist()) == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert graph.edge_index.shape[1] == 2 * 2 * 4


def test_graph_branch_beside_a_recurrent_branch():
    spec = """
model hybrid {
    input s: [seq, 6]
    a = s -> lstm(8, return = last)
    b = s -> grid_graph -> gcn(8) -> relu -> pool(mean)
    concat(a, b) -> dense(3) as y
    output y
}
"""
    model = compile_spec(spec, seed=0)
    assert model(torch.randn(4, 7, 6)).shape == (4, 3)


# -- typed (heterogeneous) graphs ------------------------------------------------------------------


def typed_graph(seed: int = 0) -> SimpleNamespace:
    generator = torch.Generator().manual_seed(seed)
    nodes, edges = 9, 20
    return SimpleNamespace(
        x=torch.randn(nodes, 8, generator=generator),
        edge_index=torch.randint(0, nodes, (2, edges), generator=generator),
        node_type=torch.arange(nodes) % 3,
        edge_type=torch.randint(0, 3, (edges,), generator=generator),
    )


@pytest.mark.parametrize("bases", [None, 2])
def test_rgcn_equals_per_relation_means(bases):
    call = "rgcn(4)" if bases is None else f"rgcn(4, bases = {bases})"
    model = compile_spec(graph_model(call, TYPED), seed=0).eval()
    graph, layer = typed_graph(), model.y
    weight = layer.weight if bases is None else (layer.comp @ layer.weight.flatten(1)).view(3, 8, 4)
    expected = graph.x @ layer.root + layer.bias
    for r in range(3):
        keep = graph.edge_type == r
        a = adjacency(SimpleNamespace(edge_index=graph.edge_index[:, keep]), 9, weighted=False)
        mean = a / a.sum(dim=1, keepdim=True).clamp(min=1)
        expected = expected + mean @ graph.x @ weight[r]
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


def test_typed_dense_uses_one_weight_per_node_type():
    model = compile_spec(graph_model("typed_dense(4)", TYPED), seed=0).eval()
    graph, layer = typed_graph(), model.y
    expected = torch.stack([x @ layer.weight[t] + layer.bias[t] for x, t in zip(graph.x, graph.node_type)])
    torch.testing.assert_close(model(graph), expected, rtol=1e-5, atol=1e-5)


def test_typed_graph_declares_its_types():
    checked = check_spec(graph_model("rgcn(4)", TYPED))
    schema = checked.input_types["g"].schema
    assert schema.node_types == ("gene", "drug", "disease")
    assert schema.edge_types[1] == ("gene", "causes", "disease")
    assert str(checked.input_types["g"]) == "graph[n, 8] (3 node types, 3 edge types)"


def errors_of(source: str) -> list:
    with pytest.raises(SpecErrors) as caught:
        check_spec(source)
    return caught.value.errors


@pytest.mark.parametrize(
    "input_type, pipeline, code, fragment",
    [
        ("graph[n, 8, nodes = [a, b], edges = [[a, r, c]]]", "gcn(4)", "E304", "'c', which is not a node type"),
        ("graph[n, 8, nodes = [a, b], edges = [[a, r]]]", "gcn(4)", "E304", "[source, relation, target]"),
        ("graph[n, 8, nodes = [a, a]]", "gcn(4)", "E304", "lists a name twice"),
        ("graph[n, 8, node = [a]]", "gcn(4)", "E301", "has no 'node'"),
        ("graph[n, 8, edges = [[a, r, a]]]", "gcn(4)", "E304", "node types declared too"),
        ("graph[n, 8, nodes = [a], edges = [[a, r, a], [a, r, a]]]", "gcn(4)", "E306", "listed twice"),
        ("graph[n, 8]", "rgcn(4)", "E401", "needs a graph with edge types"),
        ("graph[n, 8]", "typed_dense(4)", "E401", "needs a graph with node types"),
        ("graph[n, 8]", "pool(cls)", "E401", "pooled by mean, sum or max"),
        ("[seq, 8]", "pool(sum)", "E401", "`sum` pools graphs"),
        ("[seq, 8]", "gcn(4)", "E402", "grid_graph"),
        ("graph[n, 8]", "gcn(4) -> link -> gcn(2)", "E402", "does not accept"),
        ("graph[n, 8]", "gcn(4) -> flatten", "E402", "pool(mean) makes one vector per graph"),
        ("graph[n, 8]", "transpose(0, 1)", "E402", "one row per node of a batch"),
        ("graph[n, 8]", "link -> dense(2)", "E401", "must be a known size"),
        ("graph[8, n]", "gcn(4)", "E401", "must be a known size"),
        ("[6, 8]", "grid_graph(diagonal = true)", "E401", "diagonal"),
        (TYPED, "rgcn(4, bases = 5)", "E401", "more than the 3 edge types"),
    ],
)
def test_graph_mistakes_are_reported(input_type, pipeline, code, fragment):
    (error,) = errors_of(graph_model(pipeline, input_type))
    assert error.code == code and fragment in error.message + (error.hint or ""), error
    assert error.span is not None and error.span.line >= 1


def test_a_misspelt_node_type_gets_a_suggestion():
    (error,) = errors_of(graph_model("gcn(4)", "graph[n, 8, nodes = [gene, drug], edges = [[drug, targets, gen]]]"))
    assert "did you mean 'gene'" in error.hint


# -- generated code --------------------------------------------------------------------------------


def test_generated_forward_passes_each_value_its_graph():
    source = check_spec("specs/digits_grid.cram").source(standalone=False)
    assert "grid_graph_1, grid_graph_1_graph = self.grid_graph_1(image)  # (Σ64, 1) graph" in source
    assert "gcn_2 = self.gcn_2(relu_1, graph=grid_graph_1_graph)  # (Σ64, 32) graph" in source
    assert "pixels = self.pixels(relu_2, graph=grid_graph_1_graph)  # (B, 32)" in source
    source = check_spec(graph_model("gcn(4) -> relu -> gcn(2)")).source(standalone=False)
    assert "g_graph = g\n" in source and "y = self.y(relu_1, graph=g_graph)" in source


@pytest.mark.parametrize(
    "spec",
    [
        "specs/karate_gat.cram",
        "specs/drug_repurposing.cram",
        "specs/digits_grid.cram",
        graph_model("gkan(6) -> cheb(4, 3) -> gin(4) -> pool(max)"),
    ],
    ids=["karate_gat", "drug_repurposing", "digits_grid", "gkan_cheb_gin"],
)
def test_standalone_graph_source_runs_without_cramnet(tmp_path, spec):
    checked = check_spec(spec)
    target = tmp_path / "model.py"
    target.write_text(checked.source(standalone=True))
    graph = typed_graph()
    graph.x = torch.randn(9, checked.input_types[checked.inputs[0]].dims[-1])
    inputs = [torch.randn(2, 1, 8, 8)] if "digits" in spec else [graph]
    torch.save(inputs, tmp_path / "inputs.pt")
    code = (
        "import sys, torch; sys.modules['cramnet'] = None\n"  # the file must not need cramnet
        f"ns = {{}}; exec(open({str(target)!r}).read(), ns)\n"
        "torch.manual_seed(0); model = [v for k, v in ns.items() if isinstance(v, type) and k[0].isupper()][-1]()\n"
        f"inputs = torch.load({str(tmp_path / 'inputs.pt')!r}, weights_only=False)\n"
        f"torch.save(model.eval()(*inputs), {str(tmp_path / 'out.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours = checked.build(seed=0).eval()(*inputs)
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), ours)


def test_graph_model_traces_without_graph_breaks():
    model = compile_spec("specs/karate_gcn.cram", seed=0).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    graph = random_graph(nodes=34, features=34)
    graph.num_graphs = 1
    with torch.no_grad():
        torch.testing.assert_close(compiled(graph), model(graph))
