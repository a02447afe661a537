"""The commands on a trained run (cli/runs.py) take --plugin, for a run whose spec uses a plugin's
blocks, and --device, as train and compile do."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app

runner = CliRunner()
PLUGIN = ["--plugin", "tests.plugins.scale_block"]
CLASSIFIER = """model scaled_digits {
    input image: [1, 8, 8]
    image -> flatten -> test_scale(0.5) -> dense(10) as logits
    output logits
}
"""
LANGUAGE_MODEL = """model scaled_lm {
    input ids: tokens[seq]
    ids -> embed(256, 16) -> test_scale -> dense(256) as logits
    output logits
}
"""


def trained(tmp_path_factory, text: str, *sets: str):
    folder = tmp_path_factory.mktemp("run")
    (folder / "spec.cram").write_text(text)
    out = folder / "run"
    args = ["train", str(folder / "spec.cram"), "--epochs", "1", "--out", str(out), "--quiet", "--set", "threads=1"]
    result = runner.invoke(app, [*args, *[f"--set={s}" for s in sets], *PLUGIN])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    return trained(tmp_path_factory, CLASSIFIER)


def test_evaluate_predict_and_probe_take_the_plugin_and_the_device(classifier_run, tmp_path):
    result = runner.invoke(app, ["evaluate", str(classifier_run), *PLUGIN, "--device", "cpu"])
    assert result.exit_code == 0 and "test_accuracy" in result.output, result.output
    np.savez(tmp_path / "inputs.npz", image=np.random.rand(3, 1, 8, 8).astype(np.float32))
    predict = ["predict", str(classifier_run), str(tmp_path / "inputs.npz"), "-o", str(tmp_path / "p.csv")]
    result = runner.invoke(app, [*predict, *PLUGIN, "--device", "auto"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 4
    probe = ["probe", str(classifier_run), "--node", "test_scale_1", "-o", str(tmp_path / "probe")]
    result = runner.invoke(app, [*probe, *PLUGIN, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "probe" / "activations.npy").shape[1:] == (64,)


def test_evaluate_of_data_without_targets_says_why_it_needs_them(classifier_run, tmp_path):
    np.savez(tmp_path / "inputs.npz", image=np.random.rand(30, 1, 8, 8).astype(np.float32))
    result = runner.invoke(app, ["evaluate", str(classifier_run), *PLUGIN, "--data", str(tmp_path / "inputs.npz")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no targets" in result.output and "evaluate scores" in result.output
    assert "cramnet predict" in result.output  # what reads inputs alone


def test_predictions_of_two_inputs_with_one_stem_do_not_overwrite_each_other(classifier_run, tmp_path):
    # more.npz and more.csv both wrote more.predictions.csv, the second silently replacing the first
    images = np.random.rand(5, 64).astype(np.float32)
    np.savez(tmp_path / "more.npz", image=images[:3].reshape(3, 1, 8, 8))
    np.savetxt(tmp_path / "more.csv", images, delimiter=",", header=",".join(f"p{i}" for i in range(64)), comments="")
    for name, rows in (("more.npz", 3), ("more.csv", 5)):
        result = runner.invoke(app, ["predict", str(classifier_run), str(tmp_path / name), *PLUGIN])
        assert result.exit_code == 0, result.output
        written = tmp_path / f"{name}.predictions.csv"
        assert "wrote" in result.output and written.name in result.output
        assert len(written.read_text().splitlines()) == rows + 1
    assert len((tmp_path / "more.npz.predictions.csv").read_text().splitlines()) == 4  # still the first one's


def test_predict_from_a_folder_says_it_is_a_folder(classifier_run, tmp_path):
    # it was read as a folder of alignments: "… gives an MSA and pair features; the model has image: [1, 8, 8]"
    result = runner.invoke(app, ["predict", str(classifier_run), str(tmp_path), *PLUGIN, "--device", "cpu"])
    assert result.exit_code == 1 and f"data file {tmp_path} is a directory" in result.output, result.output


def test_a_fresh_process_needs_the_plugin_to_read_the_run(classifier_run):
    # in this process the plugin stays registered once train loaded it: a user's next command is a new one
    command = [sys.executable, "-m", "cramnet.cli", "evaluate", str(classifier_run), "--device", "cpu"]
    without = subprocess.run(command, capture_output=True, text=True)
    assert without.returncode == 1 and "test_scale" in without.stderr and "Traceback" not in without.stderr
    with_plugin = subprocess.run([*command, *PLUGIN], capture_output=True, text=True)
    assert with_plugin.returncode == 0 and "test_accuracy" in with_plugin.stdout, with_plugin.stderr


def test_export_of_a_run_takes_the_plugin(classifier_run, tmp_path):
    target = tmp_path / "scaled.py"
    command = [sys.executable, "-m", "cramnet.cli", "export", str(classifier_run), "-o", str(target), *PLUGIN]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and "class Scale" in target.read_text(), done.stderr


def test_a_plugin_that_cannot_load_is_told_as_check_tells_it(classifier_run):
    for command in (["evaluate", str(classifier_run)], ["fmt", "specs/mlp.cram"], ["blocks"]):
        result = runner.invoke(app, [*command, "--plugin", "no_such_module_xyz"])
        assert result.exit_code == 1, result.output
        assert "error[E220]: cannot import plugin module 'no_such_module_xyz'" in result.output
        assert "hint: check the module name" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a missing GPU")
def test_a_missing_gpu_is_a_clear_error(classifier_run):
    result = runner.invoke(app, ["evaluate", str(classifier_run), *PLUGIN, "--device", "cuda"])
    assert result.exit_code == 1 and "no CUDA GPU" in result.output and "Traceback" not in result.output


def test_generate_takes_the_plugin_and_the_device(tmp_path_factory):
    run = trained(tmp_path_factory, LANGUAGE_MODEL, "data.options.length=16")
    args = ["generate", str(run), "--prompt", "The", "--tokens", "5", "--device", "cpu"]
    result = runner.invoke(app, [*args, *PLUGIN])
    assert result.exit_code == 0 and result.output.startswith("The"), result.output
    assert result.output == runner.invoke(app, [*args[:-2], *PLUGIN]).output  # the same tokens on auto (here cpu)
    # a run given as --weights to its own spec: its tokenizer is in the run, not a tokenizer.json
    spec = run.parent / "spec.cram"
    result = runner.invoke(app, ["generate", str(spec), "--weights", str(run), "--prompt", "The", *PLUGIN])
    assert result.exit_code == 1 and f"generate from the run itself: cramnet generate {run}" in result.output
