"""`probe --clusters K`: a graph model's node embeddings clustered (k-means; spectral clustering on
the graph) and compared with the node labels; on the karate club the two factions come out."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.probe.clusters import agreement, matched, spectral
from cramnet.train import apply_sets, defaults, train

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def test_spectral_clustering_splits_two_cliques_joined_by_one_edge():
    pairs = [(a, b) for group in (range(5), range(5, 10)) for a in group for b in group if a != b] + [(4, 5), (5, 4)]
    edges = np.array(pairs).T
    values = np.zeros((10, 3))  # embeddings alike: the graph alone decides
    clusters = spectral(values, edges, 2)
    assert len(set(clusters[:5])) == 1 and len(set(clusters[5:])) == 1 and clusters[0] != clusters[9]


def test_clusters_are_numbered_after_the_labels_they_match_and_nmi_beats_chance():
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert matched(np.array([1, 1, 1, 0, 0, 0]), labels).tolist() == labels.tolist()
    score, chance = agreement(np.array([1, 1, 1, 0, 0, 0]), labels)
    assert score == pytest.approx(1.0) and chance < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("spec, node", [("karate_gcn.cram", "relu_1"), ("karate_gat.cram", "elu_1")])
def test_the_karate_club_factions_come_out_of_the_learned_embeddings(spec, node, tmp_path):
    sets = [f"out={tmp_path / 'run'}", "epochs=60", "threads=1", "device=cpu"]
    run = train(ROOT / "specs" / spec, apply_sets(defaults(), sets)).out
    result = runner.invoke(app, ["probe", str(run), "--node", node, "--clusters", "2", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "NMI with the labels" in result.output and "clusters.png" in result.output
    rows = (tmp_path / "p" / "clusters.csv").read_text().splitlines()
    assert rows[0] == "node,kmeans,spectral,label" and len(rows) == 35  # every member, not only the test split's
    found = json.loads((tmp_path / "p" / "clusters.json").read_text())
    for method in ("kmeans", "spectral"):
        assert found[method]["nmi"] > found[method]["chance"] + 0.2, (method, found)
    assert (tmp_path / "p" / "clusters.png").stat().st_size > 0


@pytest.mark.slow
def test_clusters_need_a_graph_node_and_a_sensible_count(tmp_path):
    sets = [f"out={tmp_path / 'run'}", "epochs=1", "threads=1", "device=cpu"]
    run = train(ROOT / "specs" / "karate_gcn.cram", apply_sets(defaults(), sets)).out
    for args, message in (
        (["--node", "gcn_1", "--clusters", "1"], "at least 2 clusters"),
        (["--node", "gcn_1", "--clusters", "40"], "between 2 and 33 clusters"),
        (["--node", "gcn_1", "--decode"], "--decode walks a plane of a node's numbers; gcn_1 is graph[34, 16]"),
    ):
        result = runner.invoke(app, ["probe", str(run), *args, "-o", str(tmp_path / "p")])
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
