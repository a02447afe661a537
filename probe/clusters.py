"""Clustering a graph's nodes by their learned embeddings (community detection, one of the GNN tasks
beside node and graph classification and link prediction):

- k-means on the embeddings;
- spectral clustering on the graph (Ng, Jordan & Weiss 2001): the graph's edges weighted by how alike
  their ends' embeddings are (a Gaussian kernel of their distance, its width the median distance),
  the normalised Laplacian's first K eigenvectors, rows scaled to unit length, then k-means.

Where the data has node labels, each clustering's agreement with them is its normalised mutual
information (NMI: 0 independent, 1 the same partition), beside the NMI a random assignment with the
same cluster sizes gets (chance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def kmeans(values: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(values)


def affinity(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The graph's adjacency (N, N), symmetric, each edge weighted by exp(-d² / median d²) of its ends'
    embeddings; a faint link between every pair (1e-4) keeps a disconnected graph one component."""
    count = len(values)
    source, target = edges
    distance = ((values[source] - values[target]) ** 2).sum(-1)
    scale = float(np.median(distance[distance > 0])) if (distance > 0).any() else 1.0
    weights = np.zeros((count, count))
    weights[source, target] = np.exp(-distance / scale)
    weights = np.maximum(weights, weights.T)
    np.fill_diagonal(weights, 0)
    return weights + 1e-4 * (1 - np.eye(count))


def spectral(values: np.ndarray, edges: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering of the graph weighted by the embeddings (see the module's docstring)."""
    weights = affinity(values, edges)
    degree = weights.sum(1)
    scale = 1 / np.sqrt(degree)
    normalised = scale[:, None] * weights * scale[None, :]  # D^-½ W D^-½: its top eigenvectors
    _, vectors = np.linalg.eigh(normalised)
    top = vectors[:, -k:]
    top = top / np.maximum(np.linalg.norm(top, axis=1, keepdims=True), 1e-12)
    return kmeans(top, k, seed)


def matched(clusters: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The clusters renumbered to overlap the labels most (a Hungarian matching; unmatched ones after)."""
    from scipy.optimize import linear_sum_assignment

    ids, classes = np.unique(clusters), np.unique(labels)
    overlap = np.array([[np.sum((clusters == c) & (labels == label)) for label in classes] for c in ids])
    rows, columns = linear_sum_assignment(-overlap)
    numbers = {int(ids[r]): int(classes[c]) for r, c in zip(rows, columns)}
    spare = (n for n in range(len(ids) + len(classes)) if n not in numbers.values())
    for c in ids:
        if int(c) not in numbers:
            numbers[int(c)] = next(spare)
    return np.array([numbers[int(c)] for c in clusters])


def agreement(clusters: np.ndarray, labels: np.ndarray, seed: int = 0, draws: int = 50) -> tuple[float, float]:
    """NMI of the clusters with the labels, and its mean over random shuffles of the clusters (chance)."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    generator = np.random.default_rng(seed)
    chance = np.mean([nmi(labels, generator.permutation(clusters)) for _ in range(draws)])
    return float(nmi(labels, clusters)), float(chance)


def cluster_probe(
    values: np.ndarray, labels: np.ndarray | None, graph, k: int, node: str, out: Path, notes: list[str]
) -> dict[Path, str]:
    """Write `clusters.csv`, `clusters.json` (the NMIs) and `clusters.png` for a graph node's embeddings."""
    from .errors import ProbeError

    values = values.reshape(len(values), -1).astype(np.float64)
    edges = graph.edge_index.cpu().numpy() if graph is not None else None
    if edges is None or len(values) != len(graph.x):
        raise ProbeError(f"--clusters needs one embedding per graph node; {node} gives {len(values)} rows")
    if not 2 <= k < len(values):
        raise ProbeError(f"--clusters {k}: choose between 2 and {len(values) - 1} clusters for {len(values)} nodes")
    found = {"kmeans": kmeans(values, k), "spectral": spectral(values, edges, k)}
    if labels is not None:  # number clusters after the label they share most nodes with, so colours agree
        found = {method: matched(clusters, labels) for method, clusters in found.items()}
    header = ["node", *found] + (["label"] if labels is not None else [])
    rows = [header] + [
        [str(i), *(str(int(c[i])) for c in found.values())] + ([str(int(labels[i]))] if labels is not None else [])
        for i in range(len(values))
    ]
    (out / "clusters.csv").write_text("\n".join(",".join(row) for row in rows) + "\n")
    summary: dict = {"clusters": k, "nodes": len(values)}
    if labels is not None:
        for method, clusters in found.items():
            score, chance = agreement(clusters, labels)
            summary[method] = {"nmi": round(score, 4), "chance": round(chance, 4)}
            notes.append(f"{method}: NMI with the labels {score:.3f} (chance {chance:.3f})")
    else:
        notes.append("no node labels: the clusters are not compared with any")
    (out / "clusters.json").write_text(json.dumps(summary, indent=2) + "\n")
    _figure(values, edges, found, labels, summary, node, out / "clusters.png")
    files = {
        out / "clusters.csv": "each node's k-means and spectral cluster" + (" and label" if labels is not None else ""),
        out / "clusters.json": "the agreement with the labels (NMI, and chance)" if labels is not None else "sizes",
        out / "clusters.png": "the graph drawn with its clusters" + (" and labels" if labels is not None else ""),
    }
    return files


def _figure(values, edges, found: dict, labels, summary: dict, node: str, path: Path) -> None:
    import networkx as nx
    from matplotlib.figure import Figure

    from .plots import DPI

    graph = nx.Graph()
    graph.add_nodes_from(range(len(values)))
    graph.add_edges_from((int(a), int(b)) for a, b in edges.T if a != b)
    layout = nx.spring_layout(graph, seed=0)
    panels = dict(found)
    if labels is not None:
        panels["label"] = labels
    figure = Figure(figsize=(4.6 * len(panels), 4.8))
    for axes, (name, colours) in zip(np.atleast_1d(figure.subplots(1, len(panels))), panels.items()):
        nx.draw_networkx_edges(graph, layout, ax=axes, alpha=0.3, width=0.6)
        nx.draw_networkx_nodes(
            graph,
            layout,
            ax=axes,
            node_color=colours,
            cmap="tab10",
            vmin=0,
            vmax=9,
            node_size=60,
            edgecolors="black",
            linewidths=0.4,
        )
        if len(values) <= 60:
            nx.draw_networkx_labels(graph, layout, ax=axes, font_size=5)
        score = summary.get(name)
        title = {"kmeans": "k-means on the embeddings", "spectral": "spectral, on the graph", "label": "labels"}[name]
        if isinstance(score, dict):
            title += f"\nNMI {score['nmi']:.2f} (chance {score['chance']:.2f})"
        axes.set_title(title, fontsize=9)
        axes.axis("off")
    figure.suptitle(f"{node}: {summary['clusters']} clusters of {summary['nodes']} nodes", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
