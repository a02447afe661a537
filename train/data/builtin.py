"""Built-in data sets that need no network: scikit-learn's digits and breast cancer, Zachary's
karate club (networkx), a synthetic graph-classification set and the KAN paper's regression toy."""

from __future__ import annotations

import math

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import Dataset, split_tensors
from .splits import GraphListSplit, NodeSplit, partition


def _fit_features(x: torch.Tensor, name: str, kind: TensorType, data: str) -> torch.Tensor:
    """Examples reshaped to the input's declared shape, when the sizes agree."""
    dims = kind.dims
    if kind.kind != "float":
        raise TrainError(
            f"data '{data}' gives float features of shape {list(x.shape[1:])}; input '{name}' is {kind}",
            "name data that fits the input (token models: text, selective_copy, induction; graphs: karate, graphs)",
        )
    if not all(isinstance(d, int) for d in dims) or math.prod(dims) != math.prod(x.shape[1:]):
        raise TrainError(
            f"data '{data}' gives examples of shape {list(x.shape[1:])}; input '{name}' is declared {list(dims)}",
            f"declare `input {name}: {list(x.shape[1:])}` (or a shape with {math.prod(x.shape[1:])} values)",
        )
    return x.reshape(len(x), *dims)


def digits(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str) -> Dataset:
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.tensor(raw.data, dtype=torch.float32) / 16.0  # pixels in [0, 1]
    y = torch.tensor(raw.target, dtype=torch.long)
    x = _fit_features(x, name, kind, "digits")
    if task == "reconstruction":
        return split_tensors(
            "digits", task, {name: x}, x, seed, val, test, example_labels=y, info="1,797 8x8 digit images"
        )
    return split_tensors(
        "digits",
        "classification",
        {name: x},
        y,
        seed,
        val,
        test,
        stratify=True,
        classes=10,
        info="1,797 8x8 digit images, 10 classes (scikit-learn)",
    )


def breast_cancer(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str):
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    x = torch.tensor(raw.data, dtype=torch.float32)
    y = torch.tensor(raw.target, dtype=torch.long)
    x = _fit_features(x, name, kind, "breast_cancer")
    data = split_tensors(
        "breast_cancer",
        "classification",
        {name: x},
        y,
        seed,
        val,
        test,
        stratify=True,
        classes=2,
        info="569 tumours, 30 features, 2 classes (scikit-learn)",
    )
    mean, std = data.train.inputs[name].mean(0), data.train.inputs[name].std(0) + 1e-6  # train statistics only
    for split in data.splits.values():
        split.inputs[name] = (split.inputs[name] - mean) / std
    return data


def karate(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str) -> Dataset:
    """Zachary's karate club: 34 members (one-hot features), friendships as edges both ways, the
    `club` each joined after the split as the label; a stratified split of the nodes."""
    import networkx as nx

    graph = nx.karate_club_graph()
    nodes = graph.number_of_nodes()
    if kind.kind != "graph" or kind.dims[-1] != nodes:
        raise TrainError(
            f"data 'karate' is graph[{nodes}, {nodes}] (one-hot members); input '{name}' is "
            f"{kind.kind}{list(kind.dims)}",
            f"declare `input {name}: graph[{nodes}, {nodes}]`",
        )
    edges = torch.tensor(list(graph.edges()), dtype=torch.long).T
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    y = torch.tensor([graph.nodes[n]["club"] != "Mr. Hi" for n in range(nodes)], dtype=torch.long)
    masks = []
    for part in partition(nodes, seed, val, test, y):
        mask = torch.zeros(nodes, dtype=torch.bool)
        mask[part] = True
        masks.append(mask)
    x = torch.eye(nodes)
    splits = [NodeSplit(name, x, edge_index, y, m) for m in masks]
    return Dataset(
        "karate",
        "node_classification",
        *splits,
        classes=2,
        info="Zachary's karate club: 34 members, 78 friendships, 2 clubs",
    )


def graphs(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str) -> Dataset:
    """Synthetic graph classification: a cycle with random chords (class 0) or a random tree
    (class 1), same sizes; node features are one-hot degrees (clipped to the feature width)."""
    if kind.kind != "graph":
        raise TrainError(f"data 'graphs' is a set of graphs; input '{name}' is {kind.kind}{list(kind.dims)}")
    width = kind.dims[-1]
    if not isinstance(width, int):
        raise TrainError(f"input '{name}' needs a fixed feature width for data 'graphs'")
    generator = torch.Generator().manual_seed(seed)
    examples, labels = [], []
    for i in range(options["count"]):
        n = int(torch.randint(options["min_nodes"], options["max_nodes"] + 1, (1,), generator=generator))
        label = i % 2
        if label == 0:
            ring = torch.arange(n)
            pairs = [torch.stack([ring, (ring + 1) % n])]
            chords = torch.randint(0, n, (2, max(1, n // 4)), generator=generator)
            pairs.append(chords[:, chords[0] != chords[1]])
            edges = torch.cat(pairs, dim=1)
        else:
            child = torch.arange(1, n)
            parent = (torch.rand(n - 1, generator=generator) * child).long()
            edges = torch.stack([parent, child])
        edge_index = torch.cat([edges, edges.flip(0)], dim=1)
        degree = torch.bincount(edge_index[0], minlength=n).clamp(max=width - 1)
        examples.append((torch.nn.functional.one_hot(degree, width).float(), edge_index))
        labels.append(label)
    y = torch.tensor(labels)
    parts = partition(len(y), seed, val, test, y)
    splits = [GraphListSplit(name, [examples[j] for j in p.tolist()], y[p]) for p in parts]
    return Dataset(
        "graphs",
        "graph_classification",
        *splits,
        classes=2,
        info=f"{options['count']} synthetic graphs: cycles with chords vs trees",
    )


GRAPH_OPTIONS = {"count": 400, "min_nodes": 8, "max_nodes": 16}


def kan_toy(name: str, kind: TensorType, seed: int, val: float, test: float, options: dict, task: str) -> Dataset:
    """The KAN paper's toy f(x, y) = exp(sin(πx) + y²) on [-1, 1]² (Liu et al. 2024, §2.5)."""
    generator = torch.Generator().manual_seed(seed)
    xy = torch.rand(options["count"], 2, generator=generator) * 2 - 1
    f = torch.exp(torch.sin(math.pi * xy[:, 0]) + xy[:, 1] ** 2)[:, None]
    xy = _fit_features(xy, name, kind, "kan_toy")
    return split_tensors(
        "kan_toy",
        "regression",
        {name: xy},
        f,
        seed,
        val,
        test,
        info="f(x, y) = exp(sin(pi x) + y^2), x, y uniform in [-1, 1]",
    )


KAN_OPTIONS = {"count": 2000}
