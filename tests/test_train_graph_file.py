"""Graph data files for `cramnet train --data FILE.npz`: one graph or several, node- or graph-level
targets, typed graphs, and a message naming the array and its expected shape for each mistake."""

import json

import numpy as np
import pytest

from cramnet.blocks.tensor_type import GraphSchema, TensorType
from cramnet.train import apply_sets, defaults, train
from cramnet.train.data import load_data
from cramnet.train.errors import TrainError

MOLECULES = {"molecules": TensorType(("atoms", 7), "graph")}


def load(path, types=MOLECULES):
    return load_data(str(path), types, "auto", 0, (None, None), {}, None)


def rings_and_paths(count: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Graphs stacked PyG-style: a ring (class 0) or a path (class 1) of 4-7 nodes, features 7 wide."""
    rng = np.random.default_rng(seed)
    xs, edges, owner, y, offset = [], [], [], [], 0
    for g in range(count):
        n = int(rng.integers(4, 8))
        source = np.arange(n if g % 2 == 0 else n - 1)
        pairs = np.stack([source, (source + 1) % n]) + offset
        edges.append(np.concatenate([pairs, pairs[::-1]], axis=1))
        xs.append(rng.random((n, 7)).astype(np.float32))
        owner.append(np.full(n, g))
        y.append(g % 2)
        offset += n
    return {
        "x": np.concatenate(xs),
        "edge_index": np.concatenate(edges, axis=1),
        "graph": np.concatenate(owner),
        "y": np.array(y),
    }


def test_several_graphs_make_a_graph_classification_set(tmp_path):
    arrays = rings_and_paths()
    np.savez(tmp_path / "g.npz", **arrays)
    data = load(tmp_path / "g.npz")
    assert data.task == "graph_classification" and data.classes == 2
    assert len(data.train) + len(data.val) + len(data.test) == 40
    batch = data.train.batch(np.arange(3))
    graph = batch.inputs["molecules"]
    assert graph.num_graphs == 3 and graph.x.shape[1] == 7 and int(graph.batch.max()) == 2
    assert int(graph.edge_index.max()) < len(graph.x)
    # graph_ptr offsets say the same as a graph index per node
    ptr = np.concatenate([[0], np.cumsum(np.bincount(arrays.pop("graph")))])
    np.savez(tmp_path / "p.npz", graph_ptr=ptr, **arrays)
    again = load(tmp_path / "p.npz")
    assert [len(g[0]) for g in again.test.graphs] == [len(g[0]) for g in data.test.graphs]


@pytest.mark.slow
def test_a_graph_file_trains_from_one_command(tmp_path):
    np.savez(tmp_path / "g.npz", **rings_and_paths(60))
    sets = [f"out={tmp_path / 'run'}", "epochs=2", "threads=1", f"data.name={tmp_path / 'g.npz'}"]
    result = train("specs/molecule_gin.cram", apply_sets(defaults(), sets))
    assert json.loads((result.out / "run.json").read_text())["task"] == "graph_classification"
    assert 0 <= result.final["test_accuracy"] <= 1


def test_one_graph_with_node_labels_and_masks_is_node_classification(tmp_path):
    nodes = 10
    ring = np.arange(nodes)
    masks = {k: np.zeros(nodes, bool) for k in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][:6], masks["val_mask"][6:8], masks["test_mask"][8:] = True, True, True
    np.savez(
        tmp_path / "n.npz",
        x=np.eye(nodes, dtype=np.float32),
        edge_index=np.stack([ring, (ring + 1) % nodes]),
        y=ring % 3,
        **masks,
    )
    data = load(tmp_path / "n.npz", {"g": TensorType((nodes, nodes), "graph")})
    assert data.task == "node_classification" and data.classes == 3
    assert data.train.mask.tolist() == masks["train_mask"].tolist() and len(data.train) == 1


def test_typed_graphs_carry_node_and_edge_types(tmp_path):
    arrays = rings_and_paths(6)
    arrays["node_type"] = np.arange(len(arrays["x"])) % 2
    arrays["edge_type"] = np.zeros(arrays["edge_index"].shape[1], np.int64)
    np.savez(tmp_path / "t.npz", **arrays)
    schema = GraphSchema(("atom", "ion"), (("atom", "bond", "atom"),))
    data = load(tmp_path / "t.npz", {"m": TensorType(("n", 7), "graph", schema)})
    graph = data.train.batch(np.arange(2)).inputs["m"]
    assert len(graph.node_type) == len(graph.x) and len(graph.edge_type) == graph.edge_index.shape[1]
    del arrays["edge_type"]
    np.savez(tmp_path / "u.npz", **arrays)
    with pytest.raises(TrainError, match=r"needs 'edge_type' of shape \(\d+,\)"):
        load(tmp_path / "u.npz", {"m": TensorType(("n", 7), "graph", schema)})


def _without(key):
    def change(arrays):
        del arrays[key]

    return change


def _set(key, value):
    def change(arrays):
        arrays[key] = value(arrays) if callable(value) else value

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_without("x"), r"no node features: an array 'x' of shape \(nodes, 7\)"),
        (_set("x", lambda a: a["x"][:, :5]), r"'x' has shape \(\d+, 5\); expected \(nodes, 7\)"),
        (_without("edge_index"), r"no edges: an array 'edge_index' of shape \(2, edges\)"),
        (_set("edge_index", lambda a: a["edge_index"].T), r"'edge_index' has shape \(\d+, 2\); expected \(2, edges\)"),
        (_set("edge_index", lambda a: a["edge_index"] + 1000), r"'edge_index' holds node \d+; 'x' has nodes 0"),
        (_set("edge_index", lambda a: a["edge_index"].astype(np.float32)), r"'edge_index' must hold integers"),
        (_without("y"), r"no targets: an array 'y' of shape \(\d+,\) \(a class per node\) or \(40,\)"),
        (_set("y", np.zeros(7, np.int64)), r"'y' has 7 entries; expected \(\d+,\) \(a class per node\) or \(40,\)"),
        (_set("graph", lambda a: a["graph"][::-1].copy()), r"'graph' must give each node's graph, shape \(\d+,\)"),
        (_set("graph_ptr", np.array([0, 3])), "give 'graph' or 'graph_ptr', not both"),
        (_set("train_mask", np.ones(40, bool)), "masks come three together; 'val_mask', 'test_mask' missing"),
        (_set("edge_index", lambda a: np.array([[0], [len(a["x"]) - 1]])), "joins node 0 of graph 0 to node"),
        (_set("edge_weight", np.ones(3, np.float32)), r"'edge_weight' has shape \(3,\); expected \(\d+,\)"),
    ],
)
def test_each_malformed_array_is_named_with_its_expected_shape(tmp_path, change, message):
    arrays = rings_and_paths()
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(TrainError, match=message):
        load(tmp_path / "bad.npz")


def test_graph_mistakes_reach_the_command_line_as_messages(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    arrays = rings_and_paths()
    del arrays["edge_index"]
    np.savez(tmp_path / "bad.npz", **arrays)
    result = CliRunner().invoke(
        app, ["train", "specs/molecule_gin.cram", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code != 0 and "edge_index" in result.output and "Traceback" not in result.output


def test_too_few_graphs_for_three_splits_is_a_message(tmp_path):
    np.savez(tmp_path / "two.npz", **rings_and_paths(2))
    with pytest.raises(TrainError, match="too few graphs to split"):
        load(tmp_path / "two.npz")


NODE_MODEL = """
model nodes {
    input g: graph[n, 4]
    g -> gcn(8) -> relu -> gcn(3) as scores
    output scores
}
"""


@pytest.mark.slow
def test_node_labels_over_several_graphs_train_together(tmp_path):
    rng = np.random.default_rng(0)
    sizes = [6, 8, 5, 7]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    edges = [np.stack([np.arange(a, b - 1), np.arange(a + 1, b)]) for a, b in zip(ptr[:-1], ptr[1:])]
    edge_index = np.concatenate([np.concatenate([e, e[::-1]], axis=1) for e in edges], axis=1)
    x = rng.random((ptr[-1], 4)).astype(np.float32)
    np.savez(tmp_path / "n.npz", x=x, edge_index=edge_index, graph_ptr=ptr, y=np.arange(ptr[-1]) % 3)
    spec = tmp_path / "nodes.cram"
    spec.write_text(NODE_MODEL)
    data = load(tmp_path / "n.npz", {"g": TensorType(("n", 4), "graph")})
    assert data.task == "node_classification" and data.train.graph.num_graphs == 4
    assert data.train.graph.batch.tolist() == np.repeat(np.arange(4), sizes).tolist()
    sets = [f"out={tmp_path / 'run'}", "epochs=2", "threads=1", f"data.name={tmp_path / 'n.npz'}"]
    result = train(spec, apply_sets(defaults(), sets))
    assert 0 <= result.final["test_accuracy"] <= 1


def test_any_perturbed_graph_file_loads_or_is_one_message(tmp_path):
    # seeded perturbations of valid files: arrays cut short, cast, flattened, made 0-d or empty
    rng = np.random.default_rng(0)
    schema = GraphSchema(("a", "b", "c"), (("a", "r", "b"), ("b", "s", "c")))
    loaded = refused = 0
    for trial in range(120):
        arrays = rings_and_paths(int(rng.integers(2, 12)), seed=trial)
        count = len(arrays["y"]) if rng.random() < 0.5 else len(arrays["x"])
        arrays["y"] = rng.integers(0, 3, count) if rng.random() < 0.8 else rng.random(count)
        if rng.random() < 0.3:
            arrays["graph_ptr"] = np.concatenate([[0], np.cumsum(np.bincount(arrays.pop("graph")))])
        if rng.random() < 0.3:
            part = rng.integers(0, 4, count)
            arrays |= {key: part == i for i, key in enumerate(("train_mask", "val_mask", "test_mask"))}
        edges = arrays["edge_index"].shape[1]
        for key, size in (("node_type", len(arrays["x"])), ("edge_type", edges), ("edge_weight", edges)):
            if rng.random() < 0.3:
                arrays[key] = rng.integers(0, 3, size)
        key = list(arrays)[int(rng.integers(len(arrays)))]
        value = arrays[key]
        arrays[key] = [value[:-1], value.astype(np.float32), value.reshape(-1)[:3], np.array(value.size), value[:0]][
            int(rng.integers(5))
        ]
        np.savez(tmp_path / "f.npz", **arrays)
        types = {"g": TensorType(("n", 7), "graph", schema if rng.random() < 0.3 else None)}
        try:
            data = load(tmp_path / "f.npz", types)
        except TrainError:
            refused += 1
            continue
        loaded += 1
        for split in data.splits.values():
            split.batch(np.arange(len(split)))
    assert loaded and refused  # the perturbations reach both outcomes: the loop proves something either way
