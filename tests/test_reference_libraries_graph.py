"""Our graph blocks against PyTorch Geometric itself, where it is installed (the GPU machine's image
has torch_geometric; without it these tests skip): parameter counts, and outputs with copied
weights for GCNConv, GATConv, ChebConv, GINConv, RGCNConv, HeteroLinear, the global pools and the
inner-product decoder; PyG's Data, Batch and to_homogeneous() objects as model inputs."""

import pytest
import torch

from cramnet.compiler import check_spec, compile_spec

pyg = pytest.importorskip("torch_geometric")
from torch_geometric import nn as gnn  # noqa: E402
from torch_geometric.data import Batch, Data, HeteroData  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def graph_model(pipeline: str, input_type: str = "graph[n, 34]") -> str:
    return f"model m {{\n    input g: {input_type}\n    g -> {pipeline} as y\n    output y\n}}\n"


def ours(pipeline: str, input_type: str = "graph[n, 34]"):
    return compile_spec(graph_model(pipeline, input_type), seed=0).to(DEVICE).eval()


def random_data(nodes: int = 40, features: int = 34, edges: int = 160, loops: bool = True, seed: int = 0) -> Data:
    """A random directed multigraph with positive edge weights, isolated nodes and (with `loops`)
    one self loop on nodes 0 and 5. (Duplicate self loops on one node are left out: PyG keeps an
    arbitrary one of them, cramnet sums them as it sums other repeated edges.)"""
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, nodes - 3, (2, edges), generator=generator)  # the last 3 nodes stay isolated
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    if loops:
        edge_index = torch.cat([edge_index, torch.tensor([[0, 5], [0, 5]])], dim=1)
    return Data(
        x=torch.randn(nodes, features, generator=generator),
        edge_index=edge_index,
        edge_weight=torch.rand(edge_index.shape[1], generator=generator) + 0.5,
        edge_attr=torch.randn(edge_index.shape[1], 3, generator=generator),
    ).to(DEVICE)


def copy(target: torch.nn.Module, tensors: dict) -> None:
    """Load named tensors into a PyG module's parameters, shapes checked, every parameter covered
    (buffers such as GINConv's fixed `eps` keep their values)."""
    state = dict(target.named_parameters())
    assert set(tensors) == set(state), (sorted(tensors), sorted(state))
    with torch.no_grad():
        for name, value in tensors.items():
            assert state[name].shape == value.shape, (name, tuple(state[name].shape), tuple(value.shape))
            state[name].copy_(value)


def test_gcn_two_layers_equal_gcnconv():
    model = ours("gcn(16) -> relu -> gcn(4)")
    reference = [gnn.GCNConv(34, 16).to(DEVICE).eval(), gnn.GCNConv(16, 4).to(DEVICE).eval()]
    assert parameters(model) == sum(parameters(r) for r in reference) == 628
    for layer, conv in zip((model.gcn_1, model.y), reference):
        copy(conv, {"lin.weight": layer.lin.weight, "bias": layer.bias})
    for loops in (False, True):  # PyG keeps an existing self loop's weight (add_remaining_self_loops)
        data = random_data(loops=loops)
        with torch.no_grad():
            expected = reference[1](
                reference[0](data.x, data.edge_index, data.edge_weight).relu(), data.edge_index, data.edge_weight
            )
            torch.testing.assert_close(model(data), expected, **TOLERANCE)
            del data.edge_weight
            expected = reference[1](reference[0](data.x, data.edge_index).relu(), data.edge_index)
            torch.testing.assert_close(model(data), expected, **TOLERANCE)


@pytest.mark.parametrize("concat", [True, False])
def test_gat_equals_gatconv(concat):
    model = ours(f"gat(8, heads = 8, concat = {str(concat).lower()}) -> elu -> gat(4)")
    width = 64 if concat else 8
    reference = [gnn.GATConv(34, 8, heads=8, concat=concat).to(DEVICE).eval(), gnn.GATConv(width, 4).to(DEVICE).eval()]
    assert parameters(model) == sum(parameters(r) for r in reference)
    if concat:
        assert parameters(model) == 2_636
    for layer, conv in zip((model.gat_1, model.y), reference):
        copy(
            conv,
            {"lin.weight": layer.lin.weight, "att_src": layer.att_src, "att_dst": layer.att_dst, "bias": layer.bias},
        )
    for loops in (False, True):  # PyG drops existing self loops and adds one per node
        data = random_data(loops=loops)
        with torch.no_grad():
            expected = reference[1](torch.nn.functional.elu(reference[0](data.x, data.edge_index)), data.edge_index)
            torch.testing.assert_close(model(data), expected, **TOLERANCE)


def test_gat_with_edge_features_equals_gatconv():
    model = ours("gat(8, heads = 2, edge_dim = 3)")
    conv = gnn.GATConv(34, 8, heads=2, edge_dim=3).to(DEVICE).eval()  # self loops get the mean edge_attr
    assert parameters(model) == parameters(conv)
    layer = model.y
    copy(
        conv,
        {
            "lin.weight": layer.lin.weight,
            "att_src": layer.att_src,
            "att_dst": layer.att_dst,
            "lin_edge.weight": layer.lin_edge.weight,
            "att_edge": layer.att_edge,
            "bias": layer.bias,
        },
    )
    for loops in (False, True):
        data = random_data(loops=loops)
        with torch.no_grad():
            torch.testing.assert_close(model(data), conv(data.x, data.edge_index, data.edge_attr), **TOLERANCE)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_cheb_equals_chebconv(k):
    model = ours(f"cheb(16, {k})")
    conv = gnn.ChebConv(34, 16, K=k).to(DEVICE).eval()  # normalization="sym", lambda_max = 2
    assert parameters(model) == parameters(conv)
    if k == 3:
        assert parameters(model) == 1_648
    tensors = {f"lins.{i}.weight": lin.weight for i, lin in enumerate(model.y.lins)}
    copy(conv, {**tensors, "bias": model.y.bias})
    for loops in (False, True):  # PyG removes self loops before building the Laplacian
        data = random_data(loops=loops)
        with torch.no_grad():
            torch.testing.assert_close(model(data), conv(data.x, data.edge_index, data.edge_weight), **TOLERANCE)
            torch.testing.assert_close(
                model(Data(x=data.x, edge_index=data.edge_index)), conv(data.x, data.edge_index), **TOLERANCE
            )


def test_gin_equals_ginconv():
    model = ours("gin(16, hidden = 32)")
    mlp = torch.nn.Sequential(torch.nn.Linear(34, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    conv = gnn.GINConv(mlp, eps=0.0, train_eps=False).to(DEVICE).eval()
    assert parameters(model) == parameters(conv)
    copy(conv, {f"nn.{name}": value for name, value in model.y.mlp.state_dict().items()})
    data = random_data()
    with torch.no_grad():
        torch.testing.assert_close(model(data), conv(data.x, data.edge_index), **TOLERANCE)


REFERENCE_LAYERS = {  # our layer, PyG's (same parameter names), which of the graph's edge tensors it reads
    "gat": ("gat(8, heads = 4)", lambda: gnn.GATConv(34, 8, heads=4), ()),
    "gat_mean": ("gat(8, heads = 4, concat = false)", lambda: gnn.GATConv(34, 8, heads=4, concat=False), ()),
    "gat_edges": ("gat(8, heads = 2, edge_dim = 3)", lambda: gnn.GATConv(34, 8, heads=2, edge_dim=3), ("edge_attr",)),
    "gcn": ("gcn(16)", lambda: gnn.GCNConv(34, 16), ("edge_weight",)),
    "cheb": ("cheb(16, 3)", lambda: gnn.ChebConv(34, 16, K=3), ("edge_weight",)),
}


@pytest.mark.parametrize("layer", REFERENCE_LAYERS)
def test_gradients_equal_pyg(layer):
    """Backward too: the gradients of the node features and of every weight equal PyG's, on a graph
    with self loops already in it."""
    pipeline, make, reads = REFERENCE_LAYERS[layer]
    mine, conv = ours(pipeline).y, make().to(DEVICE).eval()
    copy(conv, dict(mine.named_parameters()))
    data = random_data(loops=True)
    data.x.requires_grad_()
    for name in {"edge_attr", "edge_weight"} - set(reads):
        del data[name]
    probe = torch.randn_like(mine(data.x, data))  # a loss that weighs every output differently

    def gradients(module, out):
        named = dict(module.named_parameters())
        grads = torch.autograd.grad((out * probe).sum(), [data.x, *named.values()])
        return dict(zip(["x", *named], grads))

    expected = gradients(conv, conv(data.x, data.edge_index, *(data[name] for name in reads)))
    for name, grad in gradients(mine, mine(data.x, data)).items():
        torch.testing.assert_close(grad, expected[name], **TOLERANCE, msg=f"{layer}: gradient of {name}")


TYPED = (
    "graph[n, 8, nodes = [gene, drug, disease],"
    " edges = [[drug, targets, gene], [gene, causes, disease], [drug, treats, disease]]]"
)


def typed_data(seed: int = 0) -> Data:
    generator = torch.Generator().manual_seed(seed)
    nodes, edges = 30, 120
    return Data(
        x=torch.randn(nodes, 8, generator=generator),
        edge_index=torch.randint(0, nodes, (2, edges), generator=generator),
        node_type=torch.randint(0, 3, (nodes,), generator=generator),
        edge_type=torch.randint(0, 3, (edges,), generator=generator),
    ).to(DEVICE)


@pytest.mark.parametrize("bases", [None, 2])
def test_rgcn_equals_rgcnconv(bases):
    model = ours("rgcn(4)" if bases is None else f"rgcn(4, bases = {bases})", TYPED)
    conv = gnn.RGCNConv(8, 4, num_relations=3, num_bases=bases).to(DEVICE).eval()
    assert parameters(model) == parameters(conv)
    tensors = {"weight": model.y.weight, "root": model.y.root, "bias": model.y.bias}
    if bases is not None:
        tensors["comp"] = model.y.comp
    copy(conv, tensors)
    data = typed_data()
    with torch.no_grad():
        torch.testing.assert_close(model(data), conv(data.x, data.edge_index, data.edge_type), **TOLERANCE)


def test_typed_dense_equals_heterolinear():
    model = ours("typed_dense(4)", TYPED)
    linear = gnn.HeteroLinear(8, 4, num_types=3).to(DEVICE).eval()
    assert parameters(model) == parameters(linear)
    copy(linear, {"weight": model.y.weight, "bias": model.y.bias})
    data = typed_data()
    with torch.no_grad():
        torch.testing.assert_close(model(data), linear(data.x, data.node_type), **TOLERANCE)


@pytest.mark.parametrize(
    "mode, reference", [("mean", "global_mean_pool"), ("sum", "global_add_pool"), ("max", "global_max_pool")]
)
def test_pool_equals_global_pools_over_a_batch(mode, reference):
    model = ours(f"pool({mode})")
    batch = Batch.from_data_list([random_data(nodes=n, seed=n).cpu() for n in (5, 9, 7)]).to(DEVICE)
    with torch.no_grad():
        torch.testing.assert_close(model(batch), getattr(gnn, reference)(batch.x, batch.batch), **TOLERANCE)
        one = random_data()  # a Data has no `batch`: one graph
        torch.testing.assert_close(model(one), getattr(gnn, reference)(one.x, None), **TOLERANCE)


def test_link_equals_inner_product_decoder():
    model = ours("gcn(16) -> link")
    embed = ours("gcn(16)")
    data = random_data()
    data.edge_label_index = torch.randint(0, 40, (2, 25), device=DEVICE)
    decoder = gnn.InnerProductDecoder()
    with torch.no_grad():
        expected = decoder(embed(data), data.edge_label_index, sigmoid=False)
        torch.testing.assert_close(model(data), expected, **TOLERANCE)


def test_karate_club_spec_runs_on_pyg_karate():
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0].to(DEVICE)
    for spec in ("specs/karate_gcn.cram", "specs/karate_gat.cram"):
        model = compile_spec(spec, seed=0).to(DEVICE)
        assert model(data).shape == (34, 2)


def test_hetero_data_to_homogeneous_feeds_the_drug_repurposing_spec():
    checked = check_spec("specs/drug_repurposing.cram")
    schema = checked.input_types["kg"].schema
    data = HeteroData()
    counts = {"gene": 12, "disease": 5, "drug": 7}
    for node_type in schema.node_types:  # inserted in declared order, so node_type numbers agree
        data[node_type].x = torch.randn(counts[node_type], 64)
    for source, relation, target in schema.edge_types:
        data[source, relation, target].edge_index = torch.stack(
            [torch.randint(0, counts[source], (10,)), torch.randint(0, counts[target], (10,))]
        )
    homogeneous = data.to_homogeneous().to(DEVICE)
    assert [tuple(t) for t in data.edge_types] == list(schema.edge_types)
    model = checked.build(seed=0).to(DEVICE)
    assert model(homogeneous).shape == (homogeneous.edge_index.shape[1],)  # no edge_label_index: its edges
