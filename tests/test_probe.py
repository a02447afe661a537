"""Probing: the partial model computes exactly what the whole model computes at the node; a probe of
a trained run saves the node's values and draws the latent space, attention, experts and KAN functions."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.probe import ProbeError, partial_graph, partial_model, probe_run, resolve_node
from cramnet.probe.activations import rollout
from cramnet.train import apply_sets, defaults, load_run, train

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
# a little of everything a probe draws: two attention layers, a mixture of experts, a KAN head
MIXED = """
use "std:transformer"

model mixed {
    input image: [1, 8, 8]

    image -> patch_embed(2, 16) -> pre_ln(16, 2, 32) * 2
          -> moe(experts = 3, top_k = 2) { dense(16) -> gelu -> dense(16) }
          -> pool(mean) as h
    h -> kan(10, grid = 4, range = [-3, 3]) as logits

    output logits
}
"""


def at_node(module: torch.nn.Module, checked, node: str, *inputs) -> torch.Tensor:
    """The whole model's value at `node`, caught by a forward hook (the reference); a merge has no
    module, so its value is caught as the next stage's input."""
    caught = {}
    modules = dict(module.named_modules())
    if checked.module_path(node) in modules:
        hook = modules[checked.module_path(node)].register_forward_hook(
            lambda _m, _i, output: caught.setdefault("value", output)
        )
    else:
        after = modules[checked.module_path(next(checked.graph.successors(node)))]
        hook = after.register_forward_pre_hook(lambda _m, inputs: caught.setdefault("value", inputs[0]))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        hook.remove()
    return caught["value"]


def test_partial_model_computes_what_the_whole_model_does_at_the_node():
    checked = check_spec("specs/vit_digits.cram")
    whole = checked.build(seed=0).eval()
    x = torch.rand(3, 1, 8, 8)
    for node in ("patch_embed_1", "pre_ln_1.attention_1", "pre_ln_2.add_2"):
        partial = partial_model(checked, node, whole.state_dict())
        with torch.no_grad():
            assert torch.equal(partial(x), at_node(whole, checked, node, x)), node


def test_partial_model_keeps_only_the_node_and_its_ancestors():
    checked = check_spec("specs/vae.cram")
    graph = partial_graph(checked, "z")
    assert set(graph.graph) == {"image", "flatten_1", "dense_1", "relu_1", "z"}
    assert graph.inputs == ["image"] and graph.outputs == {"z": "z"}
    partial = partial_model(checked, "z", checked.build(seed=0).state_dict())
    assert {name.split(".")[0] for name in partial.state_dict()} == {"dense_1", "z"}  # no decoder weights


def test_nodes_are_found_by_summary_name_output_attribute_or_module_path_and_unknown_ones_suggest():
    checked = check_spec("specs/vit_digits.cram")
    assert resolve_node(checked, "pre_ln_1.attention_1") == "pre_ln_1.attention_1"
    assert resolve_node(checked, "pre_ln_1_attention_1") == "pre_ln_1.attention_1"
    assert resolve_node(checked, "pre_ln.1.attention_1") == "pre_ln_2.attention_1"  # as checkpoint keys name it
    assert resolve_node(checked, "logits") == "logits"
    bound = check_spec(
        'use "std:resnet"\nmodel m {\n input image: [8, 16, 16]\n image -> basic(8) * 2 as feats\n'
        " feats -> flatten -> dense(10) as out\n output out\n}\n"
    )
    assert resolve_node(bound, "feats") == "basic_2.relu_2"  # a name that renames no node
    with pytest.raises(ProbeError) as failure:
        resolve_node(checked, "pre_ln_1.atention_1")
    assert "no node named 'pre_ln_1.atention_1'" in str(failure.value)
    assert failure.value.hint == "did you mean 'pre_ln_1.attention_1'?"
    with pytest.raises(ProbeError) as failure:  # a module path without the node's number: that copy's node
        resolve_node(checked, "pre_ln.1.attention")
    assert failure.value.hint == "did you mean 'pre_ln.1.attention_1'?"


def test_rollout_rows_stay_distributions():
    weights = [torch.rand(2, 4, 5, 5).softmax(-1) for _ in range(3)]
    torch.testing.assert_close(rollout(weights).sum(-1), torch.ones(2, 5))


# -- probes of trained runs ----------------------------------------------------------------------


def quick_run(spec: Path, out: Path) -> Path:
    sets = [f"out={out}", "epochs=1", "batch_size=64", "threads=1", "device=cpu"]
    return train(spec, apply_sets(defaults(), sets)).out


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    return quick_run(ROOT / "specs" / "vae.cram", tmp_path_factory.mktemp("vae") / "run")


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    spec = tmp_path_factory.mktemp("mixed") / "mixed.cram"
    spec.write_text(MIXED)
    return quick_run(spec, spec.parent / "run")


def split_inputs(run: Path, split: str = "test") -> torch.Tensor:
    """The split's images, loaded as the probe loads them."""
    from cramnet.train.setup import prepare

    trained = load_run(run)
    config = {**trained.config, "device": "cpu", "task": trained.info["task"]}
    return prepare(None, config, checked=trained.checked).data.splits[split].inputs["image"]


@pytest.mark.slow
def test_a_latent_probe_saves_the_values_the_whole_model_has_there(vae_run, tmp_path):
    result = probe_run(vae_run, "z", out=tmp_path / "z")
    images = split_inputs(vae_run)
    values = np.load(tmp_path / "z" / "activations.npy")
    assert values.shape == (len(images), 2) == result.shape
    trained = load_run(vae_run)
    expected = at_node(trained.module, trained.checked, "z", images)
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-6, atol=1e-6)
    assert (tmp_path / "z" / "latent.png").stat().st_size > 0  # z₁ against z₂, coloured by digit
    labels = np.load(tmp_path / "z" / "labels.npy")  # reconstruction: the images' digits, kept for probes
    assert labels.shape == (len(images),) and result.labelled


@pytest.mark.slow
def test_an_attention_probe_draws_its_layer_and_the_rollout_up_to_it(mixed_run, tmp_path):
    out = tmp_path / "attention"
    result = probe_run(mixed_run, "pre_ln_2.attention_1", out=out)
    images = split_inputs(mixed_run)
    values, labels = np.load(out / "activations.npy"), np.load(out / "labels.npy")
    assert values.shape == (len(images), 16, 16) and labels.shape == (len(images),)
    trained = load_run(mixed_run)
    expected = at_node(trained.module, trained.checked, "pre_ln_2.attention_1", images)
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-5, atol=1e-6)
    for name in ("latent_positions", "attention_pre_ln_2_attention_1", "attention_pre_ln_2_attention_1_example"):
        assert (out / f"{name}.png").stat().st_size > 0, name
    assert (out / "attention_rollout.png").stat().st_size > 0  # through both layers up to the node
    np.testing.assert_allclose(np.load(out / "attention_rollout.npy").sum(-1), np.ones(16), rtol=1e-5)
    assert not (out / "attention_pre_ln_1_attention_1.png").exists()  # only the node's own map
    assert not (out / "experts.json").exists()  # the experts come after this node
    assert result.labelled and not result.notes


@pytest.mark.slow
def test_a_kan_probe_draws_the_learned_functions_and_a_moe_probe_its_experts(mixed_run, tmp_path):
    result = probe_run(mixed_run, "logits", split="val", out=tmp_path / "kan")
    curves = np.load(tmp_path / "kan" / "kan_functions.npz")
    assert curves["y"].shape == (10, 16, len(curves["x"]))
    assert (tmp_path / "kan" / "kan_functions.png").stat().st_size > 0
    assert result.shape[1:] == (10,) and result.split == "val"
    assert not (tmp_path / "kan" / "experts.json").exists()  # a probe draws what concerns its node
    assert not list((tmp_path / "kan").glob("attention*"))
    probe_run(mixed_run, "moe_1", split="val", out=tmp_path / "moe")
    counts = json.loads((tmp_path / "moe" / "experts.json").read_text())
    examples = len(split_inputs(mixed_run, "val"))
    assert list(counts) == ["moe_1"] and len(counts["moe_1"]) == 3
    assert sum(counts["moe_1"]) == examples * 16 * 2  # every token's two choices
    assert (tmp_path / "moe" / "experts.png").stat().st_size > 0


@pytest.mark.slow
def test_the_command_prints_what_it_wrote_and_refuses_mistakes_in_one_message(vae_run, mixed_run, tmp_path):
    result = runner.invoke(app, ["probe", str(vae_run), "--node", "z", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "probed z (gaussian)" in result.output and "latent.png" in result.output
    for args, message in (
        (["--node", "pre_ln_2.atention_1"], "did you mean 'pre_ln_2.attention_1'?"),
        (["--node", "h", "--split", "tset"], "did you mean 'test'?"),
        (["--node", "h", "--clusters", "3"], "groups a graph's nodes by their embeddings"),
        (["--node", "pre_ln_1.attention_1", "--decode"], "needs more than pre_ln_1.attention_1"),
    ):
        result = runner.invoke(app, ["probe", str(mixed_run), *args])
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["probe", str(tmp_path / "nowhere"), "--node", "h"])
    assert result.exit_code == 1 and "not a cramnet run directory" in result.output


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory) -> Path:
    return quick_run(ROOT / "specs" / "mlp.cram", tmp_path_factory.mktemp("mlp") / "run")


def test_a_probe_of_other_data_needs_no_labels(mlp_run, tmp_path):
    # it refused any file without 'y' ("no targets: an array named 'y'"), though a probe only colours by labels
    images = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "images.npz", image=images)
    header = ",".join(f"p{i}" for i in range(64))
    np.savetxt(tmp_path / "images.csv", images.reshape(40, 64), delimiter=",", header=header, comments="")
    for name in ("images.npz", "images.csv"):
        out = tmp_path / name.replace(".", "_")
        command = ["probe", str(mlp_run), "--node", "relu_1", "--data", str(tmp_path / name), "-o", str(out)]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        assert "no labels" in result.output and "Traceback" not in result.output
        values = np.load(out / "activations.npy")
        assert 0 < len(values) < 40 and values.shape[1:] == (128,)  # the file's test split, as with labels
        assert not (out / "labels.npy").exists() and (out / "latent.png").stat().st_size > 0
    result = runner.invoke(
        app,
        [
            "probe",
            str(mlp_run),
            "--node",
            "relu_1",
            "--data",
            str(tmp_path / "images.npz"),
            "--split",
            "train",
            "-o",
            str(tmp_path / "train"),
        ],
    )
    assert result.exit_code == 0 and len(np.load(tmp_path / "train" / "activations.npy")) > 20, result.output


def test_heterogeneous_experts_are_named_by_their_bodies_and_alike_ones_are_not(tmp_path):
    from cramnet.probe.run import expert_names

    spec = tmp_path / "experts.cram"
    spec.write_text(
        "model experts {\n input x: [8]\n x -> moe(top_k = 1) { dense(8) | dense(8) -> relu | layernorm } as mixed\n"
        " mixed -> dense(2) as out\n output out\n}\n"
    )
    checked = check_spec(spec)
    assert expert_names(checked.graph.nodes["mixed"]) == ["dense", "dense → relu", "layernorm"]
    assert expert_names(check_spec(ROOT / "specs" / "mixtral_small.cram").graph.nodes["moe_layer_1.moe_1"]) is None


def test_a_probe_past_a_moe_whose_expert_attends_runs(tmp_path):
    """An attention inside a `moe` expert is no node of the graph: its weights are not a node's map
    (the probe stopped with an internal KeyError on the expert's module path)."""
    spec = tmp_path / "expert_attention.cram"
    spec.write_text(
        "model expert_attention {\n input image: [1, 8, 8]\n"
        " image -> flatten -> dense(16) -> moe(top_k = 1) { reshape([4, 4]) -> attention(2) -> flatten | dense(16) }"
        " -> dense(10) as logits\n output logits\n}\n"
    )
    run = quick_run(spec, tmp_path / "run")
    result = runner.invoke(app, ["probe", str(run), "--node", "logits", "--device", "cpu", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "p" / "activations.npy").shape[1:] == (10,)


def test_the_latent_plot_of_a_wide_value_keeps_the_leading_components_without_a_full_svd(tmp_path, monkeypatch):
    """A language model's logits over a large vocabulary (cell2sentence: 3,200 rows × 20,004) took a
    full SVD per plot, six minutes each; only the first two components are drawn."""
    from cramnet.probe.plots import latent, principal_components

    rng = np.random.default_rng(0)
    wide = (rng.normal(size=(2000, 3)) * [10, 5, 1]) @ rng.normal(size=(3, 6000)) + 0.1 * rng.normal(size=(2000, 6000))
    full_svd = np.linalg.svd
    with monkeypatch.context() as patch:
        patch.setattr(np.linalg, "svd", lambda *a, **k: pytest.fail("a full SVD of the wide value"))
        latent(wide, None, "wide", tmp_path / "latent.png")
    assert np.linalg.svd is full_svd
    small = wide[:300, :3000]
    points, explained = principal_components(small)
    centred = small - small.mean(0)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.abs(points), np.abs(centred @ right[:2].T), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(explained, singular[:2] ** 2 / (singular**2).sum(), rtol=1e-9)
