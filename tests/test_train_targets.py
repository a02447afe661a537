"""The training targets of the issue, each on its built-in data with the defaults a user gets."""

import csv
import math

import pytest

from cramnet.train import apply_sets, defaults, train

pytestmark = pytest.mark.slow


def run(spec, tmp_path, *sets):
    return train(spec, apply_sets(defaults(), [f"out={tmp_path / 'run'}", "threads=1", *sets]))


def test_digits_cnn_reaches_97_percent_in_8_epochs(tmp_path):
    # "within a minute" is a timing target: bench/targets.py measures it
    assert run("specs/digits_cnn.cram", tmp_path, "epochs=8").final["test_accuracy"] >= 0.97


def test_kan_on_digits_reaches_93_percent(tmp_path):
    assert run("specs/kan_classifier.cram", tmp_path).final["test_accuracy"] >= 0.93


@pytest.mark.parametrize("spec", ["specs/karate_gcn.cram", "specs/karate_gat.cram"])
def test_karate_graph_networks_classify_held_out_members(tmp_path, spec):
    assert run(spec, tmp_path).final["test_accuracy"] >= 0.85


def test_vae_reconstruction_falls_and_kl_stays_finite(tmp_path):
    result = run("specs/vae.cram", tmp_path, "epochs=6")
    with (result.out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.8 * losses[0]
    assert all(math.isfinite(float(r["val_aux_z"])) for r in rows) and "test_aux_z" in result.final


COPIER = """
model copier {{
    input ids: tokens[seq]
    ids -> embed(8, 32)
        -> residual {{ rmsnorm -> mamba(16, 2, 4, selective = {selective}) }} * 2
        -> rmsnorm -> dense(8) as logits
    output logits
}}
"""


def test_selective_copying_needs_selection(tmp_path):
    """Gu & Dao 2023, Table 1 in small: the same Mamba spec with and without selectivity, 4 tokens among
    16 positions, 4 epochs: ~30 s of CPU for both. Measured (2 vCPUs; selective / time-invariant test
    accuracy on the answer tokens) with seeds 0, 1, 2: 0.89/0.62, 0.96/0.66, 0.94/0.70. The larger
    comparison of docs/PERFORMANCE.md is bench/selective_copying.py."""
    accuracy = {}
    for selective in ("true", "false"):
        spec = tmp_path / f"copier_{selective}.cram"
        spec.write_text(COPIER.format(selective=selective))
        result = train(
            spec,
            apply_sets(
                defaults(),
                [
                    f"out={tmp_path / selective}",
                    "data.name=selective_copy",
                    "data.options.count=3000",
                    "data.options.length=16",
                    "data.options.tokens=4",
                    "data.options.vocab=6",
                    "optimizer.lr=0.01",
                    "batch_size=32",
                    "epochs=4",
                    "threads=1",
                ],
            ),
        )
        accuracy[selective] = result.final["test_accuracy"]
    assert accuracy["true"] >= 0.8 and accuracy["true"] > accuracy["false"] + 0.2, accuracy


def test_the_showcase_reaches_95_percent_with_the_defaults(tmp_path):
    """The README's main job: `cramnet train specs/cram.cram` as a user runs it, on digits."""
    result = run("specs/cram.cram", tmp_path)
    assert result.final["test_accuracy"] >= 0.95, result.final
