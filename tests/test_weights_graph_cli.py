"""PyG state dicts through the command line: `evaluate`, `predict` and `probe` on graph specs with
`--weights`, a node classifier (GCN, GAT) and a graph classifier (GIN), checked against the PyG model."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from cramnet.cli import app

gnn = pytest.importorskip("torch_geometric.nn")
runner = CliRunner()

NODES = """
model nodes {
    input g: graph[n, 8]
    g -> gcn(16) -> relu -> gat(3, heads = 2, concat = false) as y
    output y
}
"""

GRAPHS = """
model graphs {
    input g: graph[n, 8]
    g -> gin(3) -> pool(mean) as y
    output y
}
"""


class NodeNet(torch.nn.Module):  # a PyG model as a user writes it
    def __init__(self):
        super().__init__()
        self.conv1 = gnn.GCNConv(8, 16)
        self.conv2 = gnn.GATConv(16, 3, heads=2, concat=False)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def saved(model: torch.nn.Module, path, zero: str | None = None):
    for name, parameter in model.named_parameters():  # PyG starts biases at zero: make them count
        torch.nn.init.normal_(parameter, std=0.5) if name != zero else torch.nn.init.zeros_(parameter)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def edges(nodes: int, count: int, generator) -> np.ndarray:
    pairs = generator.integers(0, nodes, (2, count))
    return pairs[:, pairs[0] != pairs[1]]


@pytest.fixture
def node_task(tmp_path):
    """One graph of 60 nodes labelled by the PyG model itself (its accuracy is 1), masks fixed."""
    torch.manual_seed(0)
    model = NodeNet().eval()
    weights = saved(model, tmp_path / "net.safetensors")
    generator = np.random.default_rng(0)
    x = generator.standard_normal((60, 8)).astype(np.float32)
    edge_index = edges(60, 200, generator)
    with torch.no_grad():
        scores = model(torch.from_numpy(x), torch.from_numpy(edge_index))
    masks = {k: np.zeros(60, bool) for k in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][:30], masks["val_mask"][30:40], masks["test_mask"][40:] = True, True, True
    data = tmp_path / "graph.npz"
    np.savez(data, x=x, edge_index=edge_index, y=scores.argmax(-1).numpy(), **masks)
    spec = tmp_path / "nodes.cram"
    spec.write_text(NODES)
    return spec, weights, data, model, x, edge_index


def test_evaluate_and_predict_a_node_classifier_from_a_pyg_state_dict(node_task):
    spec, weights, data, model, x, edge_index = node_task
    result = runner.invoke(app, ["evaluate", str(spec), "--data", str(data), "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert "test_accuracy │ 1.0000" in result.output
    result = runner.invoke(app, ["predict", str(spec), str(data), "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    rows = (data.parent / "graph.npz.predictions.csv").read_text().splitlines()
    assert rows[0] == "class,p0,p1,p2" and len(rows) == 61  # a row per node
    with torch.no_grad():
        expected = model(torch.from_numpy(x), torch.from_numpy(edge_index)).softmax(-1)
    assert [int(row.split(",")[0]) for row in rows[1:]] == expected.argmax(-1).tolist()
    ours = torch.tensor([[float(p) for p in row.split(",")[1:]] for row in rows[1:]])
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_probe_a_node_of_a_graph_spec_with_pyg_weights(node_task):
    spec, weights, data, model, x, edge_index = node_task
    out = data.parent / "probed"
    args = ["probe", str(spec), "--node", "gcn_1", "--data", str(data), "--weights", str(weights), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    activations = np.load(out / "activations.npy")
    with torch.no_grad():
        expected = model.conv1(torch.from_numpy(x), torch.from_numpy(edge_index))[40:]  # the test nodes
    torch.testing.assert_close(torch.from_numpy(activations), expected, rtol=1e-4, atol=1e-5)


def test_a_graph_classifier_from_a_gin_state_dict_evaluates_and_predicts_per_graph(tmp_path):
    torch.manual_seed(2)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.ReLU(), torch.nn.Linear(3, 3))
    conv = gnn.GINConv(mlp).eval()
    weights = saved(conv, tmp_path / "gin.safetensors", zero="nn.2.bias")  # the graphs decide the class
    generator = np.random.default_rng(1)
    sizes = generator.integers(4, 9, 30)
    x = generator.standard_normal((int(sizes.sum()), 8)).astype(np.float32)
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    edge_index = np.concatenate([edges(n, 2 * n, generator) + start for n, start in zip(sizes, ptr)], axis=1)
    with torch.no_grad():
        nodes = conv(torch.from_numpy(x), torch.from_numpy(edge_index))
        owner = torch.repeat_interleave(torch.arange(30), torch.from_numpy(sizes))
        expected = torch.zeros(30, 3).index_add_(0, owner, nodes) / torch.from_numpy(sizes)[:, None]
    data = tmp_path / "graphs.npz"
    assert set(expected.argmax(-1).tolist()) == {0, 1, 2}
    np.savez(data, x=x, edge_index=edge_index, graph_ptr=ptr, y=expected.argmax(-1).numpy())
    spec = tmp_path / "graphs.cram"
    spec.write_text(GRAPHS)
    result = runner.invoke(app, ["evaluate", str(spec), "--data", str(data), "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert "test_accuracy │ 1.0000" in result.output
    result = runner.invoke(
        app, ["predict", str(spec), str(data), "--weights", str(weights), "-o", str(tmp_path / "p.npz")]
    )
    assert result.exit_code == 0, result.output
    torch.testing.assert_close(torch.from_numpy(np.load(tmp_path / "p.npz")["y"]), expected, rtol=1e-4, atol=1e-5)
