"""Graph data files: an `.npz` (or `.safetensors`) of arrays for a model whose input is
`graph[nodes, F]`. One file holds one graph or several; their nodes and edges are stacked, in the
layout PyTorch Geometric's `Batch` uses.

| array | shape | meaning |
| --- | --- | --- |
| `x` | (N, F) float | node features of every graph, stacked; F as the input declares |
| `edge_index` | (2, E) int | edges (source row, target row) as indices into `x`; within one graph |
| `graph` | (N,) int | optional: the graph each node belongs to, 0 … G-1, non-decreasing |
| `graph_ptr` | (G+1,) int | optional, instead of `graph`: graph g's nodes are `graph_ptr[g]` … `graph_ptr[g+1] - 1` |
| `y` | (N,) int, or (G,) | per node: class ids (node classification); per graph: class ids or float values |
| `*_mask` | (N,) or (G,) bool | optional, `train_mask`, `val_mask`, `test_mask` together: each split's nodes/graphs |
| `node_type` | (N,) int | optional (needed by `graph[…, nodes = […]]`): each node's type, in the spec's order |
| `edge_type` | (E,) int | optional (needed by `edges = […]`): each edge's type |
| `edge_weight` | (E,) float | optional: edge weights (`gcn`, `cheb`) |
| `edge_attr` | (E, D) float | optional: edge features (`gat(…, edge_dim = D)`) |

Without `graph` or `graph_ptr` the file is one graph; without masks the split is seeded and stratified;
float `y` per graph is regression ((G,) or (G, k)). Node tasks train on all graphs at once (the
masks pick the nodes); graph tasks batch whole graphs.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import Dataset
from .splits import GraphListSplit, NodeSplit, partition

PER_NODE = ("node_type",)
PER_EDGE = ("edge_type", "edge_weight", "edge_attr")
MASKS = ("train_mask", "val_mask", "test_mask")


def graph_file_dataset(
    path: Path, arrays: dict[str, np.ndarray], name: str, kind: TensorType, seed: int, val: float, test: float
) -> Dataset:
    """A node- or graph-level data set from a graph file's arrays, each checked with a message that
    names the array and the shape it should have."""
    x, edge_index, owner, graphs, extras = _graphs(path, arrays, kind)
    nodes = len(x)
    if "y" not in arrays:
        raise TrainError(
            f"{path}: no targets: an array 'y' of shape ({nodes},) (a class per node) or ({graphs},) (one per graph)"
        )
    y = np.asarray(arrays["y"])
    if y.ndim == 0 or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise TrainError(
            f"{path}: 'y' must hold numbers of shape ({nodes},) (a class per node) or ({graphs},) (one per graph)"
        )
    node_level = len(y) == nodes and (graphs == 1 or graphs != nodes)
    if not node_level and len(y) != graphs:
        raise TrainError(
            f"{path}: 'y' has {len(y)} entries; expected ({nodes},) (a class per node) or ({graphs},) (one per graph)"
        )
    info = f"{path}: {graphs} graph{'s' if graphs > 1 else ''}, {nodes} nodes, {edge_index.shape[1]} edges"
    if node_level:
        return _node_task(path, arrays, name, x, edge_index, owner, graphs, extras, y, seed, val, test, info)
    return _graph_task(path, arrays, name, x, edge_index, owner, graphs, extras, y, seed, val, test, info)


def graph_batch(path: Path, arrays: dict[str, np.ndarray], kind: TensorType) -> SimpleNamespace:
    """Every graph of a file as one batch, as the model takes it (for predictions: no targets needed)."""
    x, edge_index, owner, graphs, extras = _graphs(path, arrays, kind)
    return SimpleNamespace(x=x, edge_index=edge_index, batch=owner, num_graphs=graphs, **extras)


def _graphs(path: Path, arrays: dict, kind: TensorType):
    """The file's node features, edges, each node's graph, the number of graphs and the extra arrays."""
    x = _features(path, arrays, kind)
    edge_index = _edges(path, arrays, len(x))
    owner, graphs = _owners(path, arrays, len(x))
    if not bool((owner[edge_index[0]] == owner[edge_index[1]]).all()):
        bad = int((owner[edge_index[0]] != owner[edge_index[1]]).nonzero()[0])
        (source, target), (one, other) = edge_index[:, bad].tolist(), owner[edge_index[:, bad]].tolist()
        raise TrainError(
            f"{path}: edge {bad} of 'edge_index' joins node {source} of graph {one} to node {target} of graph {other}",
            "edges stay within one graph",
        )
    return x, edge_index, owner, graphs, _extras(path, arrays, kind, len(x), edge_index.shape[1])


def _array(path: Path, arrays: dict, key: str, shape: str, integer: bool = False) -> np.ndarray:
    array = np.asarray(arrays[key])
    numeric = np.issubdtype(array.dtype, np.integer) if integer else np.issubdtype(array.dtype, np.number)
    if not numeric and not (array.dtype == bool and not integer):
        raise TrainError(f"{path}: '{key}' must hold {'integers' if integer else 'numbers'}, of shape {shape}")
    return array


def _features(path: Path, arrays: dict, kind: TensorType) -> torch.Tensor:
    width = kind.dims[-1]
    shape = f"(nodes, {width})"
    if "x" not in arrays:
        raise TrainError(f"{path}: no node features: an array 'x' of shape {shape}")
    x = _array(path, arrays, "x", shape)
    if x.ndim != 2 or (isinstance(width, int) and x.shape[1] != width) or len(x) == 0:
        raise TrainError(
            f"{path}: 'x' has shape {tuple(x.shape)}; expected {shape}: one row of features per node",
            f"the input is declared graph{list(kind.dims)}",
        )
    return torch.from_numpy(x.astype(np.float32))


def _edges(path: Path, arrays: dict, nodes: int) -> torch.Tensor:
    if "edge_index" not in arrays:
        raise TrainError(f"{path}: no edges: an array 'edge_index' of shape (2, edges)")
    edges = _array(path, arrays, "edge_index", "(2, edges)", integer=True)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise TrainError(
            f"{path}: 'edge_index' has shape {tuple(edges.shape)}; expected (2, edges): source nodes, then targets",
            "an edge list of shape (edges, 2) is its transpose: save edge_index.T",
        )
    if edges.size and (edges.min() < 0 or edges.max() >= nodes):
        raise TrainError(
            f"{path}: 'edge_index' holds node {int(edges.max() if edges.max() >= nodes else edges.min())}; "
            f"'x' has nodes 0 … {nodes - 1}"
        )
    return torch.from_numpy(edges.astype(np.int64))


def _owners(path: Path, arrays: dict, nodes: int) -> tuple[torch.Tensor, int]:
    """Each node's graph, and the number of graphs."""
    if "graph" in arrays and "graph_ptr" in arrays:
        raise TrainError(f"{path}: give 'graph' or 'graph_ptr', not both")
    if "graph_ptr" in arrays:
        ptr = _array(path, arrays, "graph_ptr", "(graphs + 1,)", integer=True)
        if ptr.ndim != 1 or len(ptr) < 2 or ptr[0] != 0 or ptr[-1] != nodes or np.any(np.diff(ptr) <= 0):
            raise TrainError(
                f"{path}: 'graph_ptr' must be offsets of shape (graphs + 1,): 0 first, {nodes} (the nodes) last, "
                "rising (each graph at least one node)"
            )
        sizes = torch.from_numpy(np.diff(ptr).astype(np.int64))
        return torch.repeat_interleave(torch.arange(len(sizes)), sizes), len(sizes)
    if "graph" in arrays:
        owner = _array(path, arrays, "graph", f"({nodes},)", integer=True)
        steps = np.diff(owner) if owner.ndim == 1 else None
        if owner.shape != (nodes,) or owner[0] != 0 or np.any((steps < 0) | (steps > 1)):
            raise TrainError(
                f"{path}: 'graph' must give each node's graph, shape ({nodes},): 0, 1, … in order, "
                "a graph's nodes together"
            )
        return torch.from_numpy(owner.astype(np.int64)), int(owner[-1]) + 1
    return torch.zeros(nodes, dtype=torch.long), 1


def _extras(path: Path, arrays: dict, kind: TensorType, nodes: int, edges: int) -> dict[str, torch.Tensor]:
    """node_type, edge_type, edge_weight, edge_attr: each checked; the types when the input needs them."""
    schema = kind.schema
    needed = {
        "node_type": len(schema.node_types) if schema else 0,
        "edge_type": len(schema.edge_types) if schema else 0,
    }
    extras = {}
    for key in (*PER_NODE, *PER_EDGE):
        count = nodes if key in PER_NODE else edges
        shape = f"({count}, D)" if key == "edge_attr" else f"({count},)"
        if key not in arrays:
            if needed.get(key):
                raise TrainError(
                    f"{path}: the input declares {needed[key]} {key.replace('_type', '')} types; the file needs "
                    f"'{key}' of shape {shape}, numbering each in the spec's order"
                )
            continue
        typed = key.endswith("_type")
        array = _array(path, arrays, key, shape, integer=typed)
        if array.ndim != (2 if key == "edge_attr" else 1) or len(array) != count:
            raise TrainError(f"{path}: '{key}' has shape {tuple(array.shape)}; expected {shape}")
        if typed and needed[key] and array.size and (array.min() < 0 or array.max() >= needed[key]):
            raise TrainError(
                f"{path}: '{key}' holds {int(array.max() if array.max() >= needed[key] else array.min())}; "
                f"the input declares {needed[key]} types, numbered 0 … {needed[key] - 1}"
            )
        extras[key] = torch.from_numpy(array.astype(np.int64 if typed else np.float32))
    return extras


def _masks(path: Path, arrays: dict, count: int, what: str) -> list[torch.Tensor] | None:
    given = [k for k in MASKS if k in arrays]
    if not given:
        return None
    if len(given) != len(MASKS):
        missing = ", ".join(f"'{k}'" for k in MASKS if k not in arrays)
        raise TrainError(
            f"{path}: masks come three together; {missing} missing", f"each of shape ({count},), one per {what}"
        )
    masks = []
    for key in MASKS:
        mask = np.asarray(arrays[key])
        if mask.shape != (count,) or not (mask.dtype == bool or np.isin(mask, (0, 1)).all()):
            raise TrainError(
                f"{path}: '{key}' has shape {tuple(mask.shape)}; expected ({count},) booleans, one per {what}"
            )
        if not mask.any():
            raise TrainError(f"{path}: '{key}' selects no {what}")
        masks.append(torch.from_numpy(mask.astype(bool)))
    if bool((masks[0] & (masks[1] | masks[2])).any()) or bool((masks[1] & masks[2]).any()):
        raise TrainError(f"{path}: the masks overlap; a {what} belongs to one split at most")
    return masks


def _classes(path: Path, y: np.ndarray, shape: str) -> torch.Tensor:
    if y.ndim != 1 or y.min() < 0:
        raise TrainError(f"{path}: 'y' must be class ids 0, 1, … of shape {shape}")
    return torch.from_numpy(y.astype(np.int64))


def _every_split_filled(path: Path, sizes: list[int], what: str) -> None:
    if min(sizes) == 0:
        raise TrainError(
            f"{path}: too few {what}s to split: train, validation and test get {', '.join(map(str, sizes))}",
            f"give more {what}s, or say which go where with train_mask, val_mask and test_mask",
        )


def _node_task(path, arrays, name, x, edge_index, owner, graphs, extras, y, seed, val, test, info) -> Dataset:
    nodes = len(x)
    if not np.issubdtype(y.dtype, np.integer):
        raise TrainError(
            f"{path}: 'y' per node must be class ids (integers) of shape ({nodes},); node regression is not a task yet"
        )
    target = _classes(path, y, f"({nodes},)")
    masks = _masks(path, arrays, nodes, "node")
    if masks is None:
        masks = []
        for part in partition(nodes, seed, val, test, target):
            mask = torch.zeros(nodes, dtype=torch.bool)
            mask[part] = True
            masks.append(mask)
    _every_split_filled(path, [int(m.sum()) for m in masks], "node")
    splits = [NodeSplit(name, x, edge_index, target, m) for m in masks]
    for split in splits:
        split.graph.batch, split.graph.num_graphs = owner, graphs
        for key, value in extras.items():
            setattr(split.graph, key, value)
    return Dataset(path.name, "node_classification", *splits, classes=int(target.max()) + 1, info=info)


def _graph_task(path, arrays, name, x, edge_index, owner, graphs, extras, y, seed, val, test, info) -> Dataset:
    starts = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(owner, minlength=graphs).cumsum(0)])
    edge_owner = owner[edge_index[0]]
    examples = []
    for g in range(graphs):
        lo, hi = int(starts[g]), int(starts[g + 1])
        on = edge_owner == g
        own = {k: v[lo:hi] if k in PER_NODE else v[on] for k, v in extras.items()}
        examples.append((x[lo:hi], edge_index[:, on] - lo, own))
    regression = np.issubdtype(y.dtype, np.floating)
    target = (
        torch.from_numpy(y.astype(np.float32)).reshape(graphs, -1) if regression else _classes(path, y, f"({graphs},)")
    )
    masks = _masks(path, arrays, graphs, "graph")
    if masks is None:
        parts = partition(graphs, seed, val, test, None if regression else target)
    else:
        parts = [m.nonzero().flatten() for m in masks]
    _every_split_filled(path, [len(p) for p in parts], "graph")
    splits = [GraphListSplit(name, [examples[i] for i in p.tolist()], target[p]) for p in parts]
    if regression:
        return Dataset(path.name, "regression", *splits, info=info)
    return Dataset(path.name, "graph_classification", *splits, classes=int(target.max()) + 1, info=info)
