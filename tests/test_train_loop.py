"""Training runs end to end on small data: the run directory, exact resume, refusals, NaN stops,
and the commands a user types (train, evaluate, predict, generate)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.train import TrainError, apply_sets, defaults, load_run, train

runner = CliRunner()
TINY = """
model tiny {
    input image: [1, 8, 8]
    image -> flatten -> dense(32) -> relu -> dropout(0.2) -> dense(10) as logits
    output logits
}
"""


def config(tmp_path: Path, *sets: str, name: str = "run") -> dict:
    return apply_sets(defaults(), [f"out={tmp_path / name}", "epochs=3", "batch_size=64", "threads=1", *sets])


def weights(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith("model.")}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.cram"
    path.write_text(TINY)
    return path


def test_a_run_leaves_everything_in_its_directory(tmp_path, spec):
    result = train(spec, config(tmp_path))
    out = result.out
    names = {p.name for p in out.iterdir()}
    assert {
        "config.yaml",
        "spec.cram",
        "run.json",
        "metrics.csv",
        "final.json",
        "model.safetensors",
        "curves.png",
        "grad_norms.csv",
        "grad_norms.png",
        "checkpoints",
    } <= names
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"last.safetensors", "best.safetensors"}
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and "val_accuracy" in rows[0] and "train_loss" in rows[0]
    final = json.loads((out / "final.json").read_text())
    assert 0.5 < final["test_accuracy"] <= 1 and final["epochs"] == 3
    assert "dense_1" in (out / "grad_norms.csv").read_text().splitlines()[0]
    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        meta = json.loads(handle.metadata()["cramnet"])
    assert meta["version"] and len(meta["spec_hash"]) == 16 and meta["model"] == "tiny"
    run = load_run(out)
    assert run.config["epochs"] == 3 and run.module(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_resume_after_an_interruption_ends_with_the_same_weights(tmp_path, spec):
    whole = train(spec, config(tmp_path, "epochs=4", name="whole"))

    def interrupt(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, config(tmp_path, "epochs=4", name="cut"), on_epoch_end=interrupt)
    resumed = train(None, config(tmp_path, "epochs=4", name="cut"), resume=tmp_path / "cut")
    for name in ("checkpoints/last.safetensors", "model.safetensors"):
        a, b = weights(whole.out / name), weights(resumed.out / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.final["test_accuracy"] == whole.final["test_accuracy"]
    assert len((resumed.out / "metrics.csv").read_text().splitlines()) == 5


def test_a_checkpoint_from_another_spec_is_refused(tmp_path, spec):
    train(spec, config(tmp_path, "epochs=1"))
    other = tmp_path / "other.cram"
    other.write_text(TINY.replace("dense(32)", "dense(16)"))
    with pytest.raises(TrainError, match="was written for a different spec"):
        train(other, config(tmp_path, "epochs=2"), resume=tmp_path / "run")


def test_a_run_stopped_before_its_first_checkpoint_is_not_told_to_resume(tmp_path, spec):
    # evaluate and train --out said "resume it with --resume RUN", which then said "no checkpoint to
    # resume from" with no way on
    import shutil

    out = train(spec, config(tmp_path, "epochs=1")).out
    for name in ("checkpoints", "model.safetensors", "final.json"):  # as a run killed in its first epoch leaves it
        shutil.rmtree(out / name) if name == "checkpoints" else (out / name).unlink()
    again = f"start it again with: cramnet train SPEC --out {out} --overwrite"
    for args in (["evaluate", str(out)], ["train", "--resume", str(out), "--quiet"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and again in result.output and "--resume" not in result.output, result.output
    assert "no checkpoint to resume from" in result.output
    result = runner.invoke(app, ["train", str(spec), "--out", str(out), "--quiet"])
    assert (
        result.exit_code == 1 and "--resume" not in result.output and "or replace it with --overwrite" in result.output
    )


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, spec):
    train(spec, config(tmp_path, "epochs=1"))
    before = weights(tmp_path / "run" / "checkpoints" / "last.safetensors")
    with pytest.raises(TrainError, match="the loss became (nan|inf)") as failure:
        train(None, config(tmp_path, "epochs=3", "optimizer.lr=1e30", "optimizer.grad_clip=0"), resume=tmp_path / "run")
    assert "last good checkpoint" in failure.value.hint
    after = weights(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_outputs_that_do_not_fit_the_task_are_explained(tmp_path):
    spec = tmp_path / "five.cram"
    spec.write_text(TINY.replace("dense(10)", "dense(5)"))
    with pytest.raises(TrainError, match=r"no output of the model fits classification on 'digits': 'logits' is \[5\]"):
        train(spec, config(tmp_path, "data.name=digits"))


@pytest.mark.parametrize(
    "model, data, hint",
    [
        ("input xy: [2]\n xy -> dense(3) as f", "kan_toy", "end the model in `dense(1)`: one value per target"),
        ("input ids: tokens[seq]\n ids -> embed(256, 8) -> dense(10) as f", "text", "end the model in `dense(256)`"),
    ],
)
def test_an_output_that_does_not_fit_is_told_how_to_fit(tmp_path, model, data, hint):
    # the hint was "see the tasks table in train/tasks.py", a source file
    (tmp_path / "m.cram").write_text(f"model m {{\n {model}\n output f\n}}\n")
    result = runner.invoke(app, ["train", str(tmp_path / "m.cram"), "--data", data, "--quiet"])
    assert result.exit_code == 1 and f"  hint: {hint}" in result.output, result.output
    assert "tasks.py" not in result.output


@pytest.mark.parametrize("shipped", ["specs/link_predictor.cram", "specs/drug_repurposing.cram"])
def test_a_link_predictor_is_told_train_has_no_link_task(shipped):
    # it trained on 'graphs' and was told "end the model in `dense(2)` for the 2 classes"
    result = runner.invoke(app, ["train", shipped, "--quiet"])
    assert result.exit_code == 1 and "cramnet train has no link-prediction task" in result.output, result.output
    assert "dense(2)" not in result.output and "compile_spec" in result.output


def test_a_batch_larger_than_the_data_is_sized_by_the_data_in_the_memory_check(tmp_path, spec):
    # full-batch training: the check counted 100,000,000 examples a step and refused (about 218 GiB)
    args = ["train", str(spec), "--batch-size", "100000000", "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_cli_train_evaluate_predict(tmp_path, spec):
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["train", str(spec), "--epochs", "2", "--batch-size", "64", "--out", str(out), "--set", "threads=1"]
    )
    assert result.exit_code == 0, result.output
    assert "data: digits (chosen from the model's inputs and outputs)" in result.output
    assert "test_accuracy" in result.output
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 0 and "test_accuracy" in result.output
    np.savez(tmp_path / "inputs.npz", image=np.random.rand(5, 1, 8, 8).astype(np.float32))
    result = runner.invoke(app, ["predict", str(out), str(tmp_path / "inputs.npz"), "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("class,p0") and len(lines) == 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "optimzer.lr=0.1"], "unknown key 'optimzer.lr'"),
        (["--device", "cuda"], "no CUDA GPU" if not torch.cuda.is_available() else None),
        (["--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA GPU"),
        (["--data", "missing.npz"], "data file missing.npz does not exist"),
    ],
)
def test_cli_mistakes_are_messages(tmp_path, spec, args, message):
    if message is None:
        pytest.skip("a GPU is present")
    result = runner.invoke(app, ["train", str(spec), "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


LM = """
model lm {
    input ids: tokens[seq]
    ids -> embed(256, 16) -> gru(32) -> dense(256) as logits
    output logits
}
"""


def test_a_language_model_trains_and_generates(tmp_path):
    spec = tmp_path / "lm.cram"
    spec.write_text(LM)
    out = tmp_path / "lm"
    result = runner.invoke(
        app,
        [
            "train",
            str(spec),
            "--epochs",
            "1",
            "--out",
            str(out),
            "--quiet",
            "--set",
            "data.options.length=32",
            "--set",
            "threads=1",
        ],
    )
    assert result.exit_code == 0, result.output
    final = json.loads((out / "final.json").read_text())
    assert 1 < final["test_perplexity"] < 256
    result = runner.invoke(app, ["generate", str(out), "--prompt", "The net", "--tokens", "20", "--top-k", "5"])
    assert result.exit_code == 0 and result.output.startswith("The net")


@pytest.mark.parametrize(
    "spec, sets, task, metric",
    [
        ("specs/molecule_gin.cram", ["data.options.count=60"], "graph_classification", "test_accuracy"),
        ("specs/kan_regressor.cram", ["data.options.count=200"], "regression", "test_mse"),
        ("specs/autoencoder.cram", [], "reconstruction", "test_mse"),
        ("specs/karate_gcn.cram", [], "node_classification", "test_accuracy"),
    ],
)
def test_the_data_and_task_follow_from_the_model(tmp_path, spec, sets, task, metric):
    result = train(spec, config(tmp_path, "epochs=1", *sets))
    assert json.loads((result.out / "run.json").read_text())["task"] == task
    assert metric in result.final and np.isfinite(result.final[metric])


def test_early_stopping_watches_a_validation_metric(tmp_path, spec):
    # a learning rate too small to move any weight: the validation loss never improves after epoch 1
    result = train(
        spec,
        config(tmp_path, "epochs=5", "optimizer.lr=1e-30", "early_stopping.metric=loss", "early_stopping.patience=1"),
    )
    assert result.final["epochs"] == 2 and result.final["best_epoch"] == 1
    with pytest.raises(TrainError, match="early_stopping.metric 'perplexity' is not measured"):
        train(spec, config(tmp_path, "early_stopping.metric=perplexity", name="other"))


def test_evaluating_other_text_reads_it_with_the_runs_tokenizer(tmp_path):
    # a char tokenizer numbers the characters of the training text: other text, with other characters,
    # is read with the run's numbering (it was numbered afresh, and refused as needing more ids)
    corpus, other = tmp_path / "corpus.txt", tmp_path / "other.txt"
    corpus.write_text("abcab cabba " * 60)
    other.write_text("abc xyz! QRS " * 60)
    spec = tmp_path / "lm.cram"
    spec.write_text(LM.replace("256", "8"))  # the 4 characters of the corpus, and room for 4 more
    out = tmp_path / "lm"
    common = ["--set", "data.options.length=16", "--set", "data.options.tokenizer=char", "--quiet"]
    args = ["train", str(spec), "--data", str(corpus), "--epochs", "1", "--out", str(out), *common]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(other)])
    assert result.exit_code == 0 and "test_perplexity" in result.output, result.output
