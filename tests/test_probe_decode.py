"""The partial model after a node and `probe --decode`: the part after a node, fed the part before
it, computes the whole model; decoding a VAE's latent writes a grid of images and interpolations."""

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.probe import ProbeError, after_graph, after_model, partial_model
from cramnet.train import apply_sets, defaults, load_run, train

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
SKIP = """
model skip {
    input x: [8]
    h = x -> dense(8) as a
    h -> dense(8) -> relu as b
    c = add(b, h)
    c -> dense(2) as out
    output out
}
"""
TIED = """
model tied {
    input ids: tokens[seq]
    ids -> embed(50, 8) as tok -> layernorm -> dense(50, bias = false, tie = tok) as logits
    output logits
}
"""


@pytest.mark.parametrize(
    "spec, node",
    [("vae.cram", "z"), ("autoencoder.cram", "code"), ("vit_digits.cram", "pre_ln_1.add_2")],
)
def test_the_part_after_a_node_fed_the_part_before_it_is_the_whole_model(spec, node):
    checked = check_spec(ROOT / "specs" / spec)
    whole = checked.build(seed=0).eval()
    state = whole.state_dict()
    x = torch.rand(3, *checked.input_types[checked.inputs[0]].dims)
    with torch.no_grad():
        expected = whole(x)
        got = after_model(checked, node, state)(partial_model(checked, node, state)(x))
    expected = expected[0] if isinstance(expected, tuple) else expected  # the first output comes after the node
    assert torch.equal(got[0] if isinstance(got, tuple) else got, expected)


def test_the_after_graph_starts_at_the_node_and_keeps_a_repeat_tail_with_its_own_weights():
    checked = check_spec(ROOT / "specs" / "vit_digits.cram")
    graph = after_graph(checked, "pre_ln_1.add_2")
    assert graph.inputs == ["pre_ln_1.add_2"] and list(graph.outputs) == ["logits"]
    assert graph.graph.nodes["pre_ln_1.add_2"].type == checked.graph.nodes["pre_ln_1.add_2"].type
    whole = checked.build(seed=0)
    module = after_model(checked, "pre_ln_1.add_2", whole.state_dict())
    # the second copy of the repeat is the tail's first: its weights are pre_ln.1's, not pre_ln.0's
    assert torch.equal(module.state_dict()["pre_ln.0.dense_1.weight"], whole.state_dict()["pre_ln.1.dense_1.weight"])


def test_a_node_the_later_stages_do_not_depend_on_alone_is_refused_by_name(tmp_path):
    spec = tmp_path / "skip.cram"
    spec.write_text(SKIP)
    checked = check_spec(spec)
    with pytest.raises(ProbeError) as failure:
        after_model(checked, "b")
    assert "needs more than b: c reads a" in str(failure.value)
    with pytest.raises(ProbeError, match="no output .* is computed from out"):
        after_model(checked, "out")
    spec.write_text(TIED)
    with pytest.raises(ProbeError, match="needs more than tok: logits uses the weights of tok"):
        after_model(check_spec(spec), "tok")  # the part after an embedding lacks the embedding a tied head uses


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    sets = [f"out={tmp_path_factory.mktemp('vae') / 'run'}", "epochs=2", "batch_size=64", "threads=1", "device=cpu"]
    return train(ROOT / "specs" / "vae.cram", apply_sets(defaults(), [*sets, "loss=bce"])).out


@pytest.mark.slow
def test_decoding_a_vae_latent_writes_a_grid_of_digits_beside_the_latent_by_digit(vae_run, tmp_path):
    result = runner.invoke(app, ["probe", str(vae_run), "--node", "z", "--decode", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "with labels" in result.output and "decoded.png" in result.output
    decoded = np.load(tmp_path / "decoded.npz")
    assert decoded["grid"].shape == (10, 10, 1, 8, 8)  # rows × columns × the reconstruction
    assert decoded["lines"].shape == (4, 10, 1, 8, 8)  # digits 0→1, 2→3, 4→5, 6→7
    values, labels = np.load(tmp_path / "activations.npy"), np.load(tmp_path / "labels.npy")
    assert set(labels.tolist()) == set(range(10))  # the digits of the reconstruction task's images
    # a 2-D latent: the grid spans the range the encoder uses, on z₁ and z₂ themselves
    assert decoded["s"][0] == pytest.approx(values[:, 0].min()) and decoded["s"][-1] == pytest.approx(
        values[:, 0].max()
    )
    trained = load_run(vae_run)
    corner = torch.tensor([[decoded["s"][0], decoded["t"][0]]], dtype=torch.float32)
    with torch.no_grad():
        np.testing.assert_allclose(decoded["grid"][0, 0], trained.after("z")(corner)[0].numpy(), atol=1e-6)
    for name in ("decoded.png", "interpolations.png", "latent.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.slow
def test_predict_on_a_vae_writes_the_latent_too_and_export_says_how_to_load_it(vae_run, tmp_path):
    np.savez(tmp_path / "images.npz", image=np.random.rand(5, 1, 8, 8).astype(np.float32))
    result = runner.invoke(app, ["predict", str(vae_run), str(tmp_path / "images.npz")])
    assert result.exit_code == 0, result.output
    written = np.load(tmp_path / "images.npz.predictions.npz")
    assert written["prediction"].shape == written["reconstruction"].shape == (5, 1, 8, 8)
    assert written["z"].shape == (5, 2)
    (tmp_path / "prompts.txt").write_text("hello\n")
    result = runner.invoke(app, ["predict", str(vae_run), str(tmp_path / "prompts.txt")])
    assert result.exit_code == 1 and "holds prompts for a language model" in result.output
    result = runner.invoke(app, ["export", str(vae_run), "-o", str(tmp_path / "vae_model.py")])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'vae_model.safetensors'}" in result.output
    assert "from vae_model import load; model = load()" in result.output
