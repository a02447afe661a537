"""Search spaces (compiler/space.py and space_reader.py, search/check.py) and `cramnet sweep` (search/): choices fixed
and checked point by point, trials run into an SQLite study, pruned, resumed, shared by workers."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.compiler.space_reader import read_space, read_space_file
from cramnet.dsl import parse
from cramnet.dsl.errors import SpecErrors
from cramnet.dsl.format import format_spec
from cramnet.train.errors import TrainError

optuna = pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parent.parent

SPACE = """\
let width = choice(16, 32)
let act = choice(relu, gelu)
let mixer = choice(lstm(24), attention(2), mamba())

model reader {
    input image: [1, 8, 8]
    image -> reshape([8, 8]) -> dense(width) -> act
          -> mixer -> pool(mean) -> dense(10) as logits
    output logits
}
"""

# A tiny space for sweeps: `gain = 0` zeroes the logits, so its trial is the one the pruner stops.
TINY = """\
let width = choice(8, 16)
let gain = choice(1, 0)

model tiny {
    input image: [1, 8, 8]
    image -> flatten -> dense(width) -> relu -> dense(10) -> scale(gain) as logits
    output logits
}
"""


def errors_of(text: str, **choices) -> list:
    with pytest.raises(SpecErrors) as caught:
        check_spec(text, path="space.cram", choices=choices or None)
    return caught.value.errors


# -- the language -------------------------------------------------------------------------------


def test_space_forms_parse_and_format_unchanged():
    text = "let m = choice(lstm(64), mamba(), attention(4, causal = true))\nlet lr = log_range(1e-4, 1e-2)\n"
    tree = parse(text)
    assert tree.declarations[0].value.name == "choice"
    assert format_spec(text) == text


def test_a_point_fixes_each_choice_and_checks_like_any_spec():
    sizes = {
        mixer: check_spec(SPACE, path="s.cram", choices={"width": 32, "act": "gelu", "mixer": mixer}).summary().params
        for mixer in ("lstm(24)", "attention(2)", "mamba()")
    }
    assert len(set(sizes.values())) == 3
    fixed = read_space(SPACE, "s.cram").fix({"width": 32, "act": "gelu", "mixer": "mamba()"})
    assert "let mixer = mamba()" in fixed and fixed.count("\n") == SPACE.count("\n")


def test_a_let_holding_a_block_call_or_name_is_a_stage():
    spec = """
let act = gelu
let mixer = lstm(16, return = last)
let reader = dense
model m {
    input x: [5, 4]
    x -> reader(16) -> act -> mixer -> dense(3) as y
    output y
}
"""
    graph = check_spec(spec).graph
    assert [graph.nodes[n].block for n in graph if n != "x"] == ["dense", "gelu", "lstm", "dense"]


def test_a_let_holding_a_call_takes_no_more_arguments():
    spec = "let mixer = lstm(16)\nmodel m {\n    input x: [5, 4]\n    x -> mixer(8) as y\n    output y\n}\n"
    (error,) = errors_of(spec)
    assert error.code == "E216" and "lstm" in error.message and error.span.line == 4


def test_an_unfixed_space_says_how_to_fix_it_located():
    found = errors_of(SPACE)
    assert {e.code for e in found} == {"E240"} and [e.span.line for e in found] == [1, 2, 3]


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("let w = choice()\n", "empty choice", 1),
        ("model m {\n    input x: [4]\n    x -> dense(choice(8, 16)) as y\n    output y\n}\n", "whole value", 3),
        ("block choice(a) {\n    dense(a)\n}\n", "needs another name", 1),
        ("let w = range(8)\n", "two numbers", 1),
        ("let w = log_range(0, 1)\n", "positive", 1),
        ("let w = choice(8, 8)\n", "twice", 1),
        ("let w = range(0 + 0, 8 % 0)\n", "two numbers", 1),
        ("let w = 2 * choice(8, 16)\n", "whole value", 1),
    ],
)
def test_a_space_form_where_no_value_can_vary_is_located(text, message, line):
    with pytest.raises(SpecErrors) as caught:
        read_space(text, "s.cram")
    (error,) = caught.value.errors
    assert error.code == "E241" and message in error.message and error.span.line == line


def test_a_choice_cannot_choose_a_use_path():
    with pytest.raises(SpecErrors) as caught:
        parse('use choice("a.cram", "b.cram")\n')
    (error,) = caught.value.errors
    assert error.code == "E101" and "cannot vary" in error.message and error.span.line == 1


def test_a_choice_is_named_by_its_value_or_its_text():
    space = read_space(SPACE, "s.cram")
    assert space.fix({"width": "32", "act": "gelu", "mixer": "lstm(24)"}) == space.fix(
        {"width": 32, "act": "gelu", "mixer": "lstm(24)"}
    )


def test_a_value_outside_the_space_is_refused():
    (error,) = errors_of(SPACE, width=48, act="relu", mixer="mamba()")
    assert error.code == "E242" and "choice(16, 32)" in error.message


def test_ranges_hold_integers_or_floats_and_are_checked_at_their_bounds():
    space = read_space("let d = range(16, 64, step = 16)\nlet lr = log_range(1e-4, 1e-2)\n", "s.cram")
    d, lr = space.axes
    assert (d.integer, d.size, d.check_values()) == (True, 4, [16, 64])
    assert (lr.integer, lr.check_values()) == (False, [1e-4, 1e-2])
    assert space.fix({"d": 32, "lr": 0.001}).startswith("let d = 32\nlet lr = 0.001")


# -- cramnet check on a space -------------------------------------------------------------------


def test_check_counts_the_architectures_and_their_parameter_range(tmp_path):
    spec = tmp_path / "space.cram"
    spec.write_text(SPACE)
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 0, result.output
    assert "12 architectures" in result.output and "12 of 12 combinations check" in result.output
    assert "1,402 to 10,538 parameters" in result.output


def test_check_names_the_value_that_breaks_the_space(tmp_path):
    spec = tmp_path / "space.cram"
    spec.write_text(SPACE.replace("attention(2)", "attention(3)"))
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "mixer = attention(3) fails in every combination" in result.output
    assert "heads = 3 must divide" in result.output and "is chosen here" in result.output
    assert "4 of 12 combinations fail" in result.output


def test_a_huge_space_is_sampled(tmp_path):
    from cramnet.search.check import check_space

    lets = "".join(f"let w{i} = choice(1, 2, 3, 4)\n" for i in range(5))
    space = read_space(lets + "model m {\n    input x: [4]\n    x -> dense(w0 + w1) as y\n    output y\n}\n", "s.cram")
    report = check_space(space, limit=20)
    assert report.total == 4**5 and report.sampled and len(report.passed) == 20


def test_the_shipped_search_spec_checks_at_every_point():
    from cramnet.search.check import check_space

    report = check_space(read_space_file(ROOT / "specs/search/digits_families.cram"))
    assert report.total == 15 and not report.failed


# -- cramnet sweep ------------------------------------------------------------------------------


def sweep_flags(tmp_path: Path, **changes):
    from cramnet.search.sweep import SweepFlags

    spec = tmp_path / "tiny.cram"
    spec.write_text(TINY)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    base = dict(spec=spec, trials=3, out=tmp_path / "sweep", epochs=2, data="digits", metric="accuracy")
    return SweepFlags(**(base | {"storage": storage, "study": "tiny", "prune_after": 2, "seed": 0} | changes))


def load_study(tmp_path: Path):
    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'study.db'}")


def states(study) -> list[str]:
    return [t.state.name for t in study.trials]


@pytest.mark.slow
def test_sweep_runs_trials_into_the_storage_prunes_and_writes_a_best_spec_that_checks(tmp_path):
    from rich.console import Console

    from cramnet.search.commands import run_sweep

    flags = sweep_flags(tmp_path)
    study = optuna.create_study(study_name="tiny", storage=flags.storage_url, direction="maximize")
    for point in ({"width": 16, "gain": 1}, {"width": 8, "gain": 1}, {"width": 16, "gain": 0}):
        study.enqueue_trial(point)  # two sound trials, then one whose logits are zero
    run_sweep(flags, Console(file=io.StringIO()))
    study = load_study(tmp_path)
    assert states(study) == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert len({t.user_attrs["run"] for t in study.trials}) == 3
    assert (Path(study.trials[0].user_attrs["run"]) / "checkpoints").is_dir()
    best = flags.out / "best.cram"
    assert "let gain = 1" in best.read_text()
    check_spec(best)
    rows = (flags.out / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,accuracy") and len(rows) == 4
    assert (flags.out / "history.png").exists()


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_with_the_interrupted_point_first(tmp_path, monkeypatch):
    from rich.console import Console

    import cramnet.train.loop as loop
    from cramnet.search.commands import run_sweep

    real, calls = loop.train, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    quiet = Console(file=io.StringIO())
    flags = sweep_flags(tmp_path, trials=2, epochs=1)
    monkeypatch.setattr(loop, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(flags, quiet)
    monkeypatch.setattr(loop, "train", real)
    assert states(load_study(tmp_path)) == ["COMPLETE", "FAIL", "WAITING"]
    run_sweep(flags, quiet)
    study = load_study(tmp_path)
    assert states(study) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert study.trials[2].params == study.trials[1].params
    check_spec(flags.out / "best.cram")


@pytest.mark.slow
def test_a_trial_left_running_by_a_killed_sweep_is_run_again(tmp_path):
    from rich.console import Console

    from cramnet.search.commands import run_sweep

    flags = sweep_flags(tmp_path, trials=3, epochs=8, prune_after=99)
    command = [sys.executable, "-m", "cramnet.cli", "sweep", str(flags.spec), "--trials", "3", "--epochs", "8"]
    command += ["--data", "digits", "--metric", "accuracy", "--study", "tiny", "--prune-after", "99", "--seed", "0"]
    command += ["--storage", flags.storage_url, "--out", str(flags.out)]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in worker.stdout:
        if line.startswith("trial 0 "):
            break
    waited = time.monotonic()
    while not any(t.state.name == "RUNNING" for t in load_study(tmp_path).trials):  # the next trial has started
        assert time.monotonic() - waited < 120 and worker.poll() is None, "no second trial started"
        time.sleep(0.05)
    worker.kill()
    worker.communicate(timeout=60)
    killed = [t for t in load_study(tmp_path).trials if t.state.name == "RUNNING"]
    assert len(killed) == 1
    run_sweep(flags, Console(file=io.StringIO()))
    study = load_study(tmp_path)
    assert study.trials[killed[0].number].state.name == "FAIL"
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == killed[0].number]
    assert len(retry) == 1 and retry[0].params == killed[0].params and retry[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 3


@pytest.mark.slow
def test_two_worker_processes_share_one_study_without_duplicate_trials(tmp_path):
    spec = tmp_path / "tiny.cram"
    spec.write_text(TINY)
    command = [sys.executable, "-m", "cramnet.cli", "sweep", str(spec), "--trials", "4", "--epochs", "2"]
    command += ["--data", "digits", "--metric", "accuracy", "--study", "tiny", "--prune-after", "99"]
    command += ["--storage", f"sqlite:///{tmp_path / 'study.db'}", "--out", str(tmp_path / "sweep")]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in "ab"]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    study = load_study(tmp_path)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
    trained = [t for t in finished if "same_as" not in t.user_attrs]  # a point drawn again is not retrained
    assert len({t.user_attrs["run"] for t in trained}) == len(trained)
    assert len({t.user_attrs["worker"] for t in finished}) == 2


def test_a_resumed_seeded_sweep_draws_new_points(tmp_path):
    """Resuming with the same --seed restarted the sampler's stream: its first points were those
    already run (a 2-trial sweep resumed to 4 spent trials 2 and 3 on the points of 0 and 1)."""
    from cramnet.search.sweep import open_storage, open_study

    def first_draw(flags):
        study = open_study(flags, open_storage(flags.storage_url))
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
        study.tell(trial, 0.5)
        return trial.params["x"]

    flags = sweep_flags(tmp_path)
    first = first_draw(flags)
    assert first_draw(flags) != first  # resumed: a new point
    (tmp_path / "again").mkdir()
    assert first_draw(sweep_flags(tmp_path / "again")) == first  # a new study with the seed: the same start


def test_sweep_mistakes_are_messages_not_tracebacks(tmp_path):
    spec = tmp_path / "tiny.cram"
    spec.write_text(TINY)
    plain = tmp_path / "plain.cram"
    plain.write_text(TINY.replace("choice(8, 16)", "8").replace("choice(1, 0)", "1"))
    runner = CliRunner()
    cases = [
        (["sweep", str(spec), "--storage", "nosuchdb://x", "--out", str(tmp_path)], "cannot open the storage"),
        (["sweep", str(plain), "--out", str(tmp_path)], "nothing to search"),
        (["sweep", str(spec), "--also", "speed", "--out", str(tmp_path)], "not an objective"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_a_misspelt_metric_is_refused_before_anything_is_written(tmp_path):
    # it said nothing helpful and had created the sweep directory and study.db (a study of the wrong
    # direction, which then refused the corrected command) before the first trial found the mistake
    spec = tmp_path / "tiny.cram"
    spec.write_text(TINY)
    args = ["sweep", str(spec), "--metric", "acuracy", "--epochs", "1", "--trials", "2", "--data", "digits"]
    result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "sweep")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "--metric 'acuracy' is not a metric" in result.output and "did you mean 'accuracy'?" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.cram"]  # no sweep directory, no study.db
    from cramnet.search.sweep import prepare_search

    for metric in ("loss", "perplexity", "aux_balance"):  # any task's metric, and a block's auxiliary loss
        prepare_search(sweep_flags(tmp_path, metric=metric))


def test_a_second_study_in_the_same_directory_is_refused(tmp_path):
    from cramnet.errors import UsageError
    from cramnet.search.sweep import claim_directory

    claim_directory(sweep_flags(tmp_path))
    claim_directory(sweep_flags(tmp_path))  # the same study resumes
    with pytest.raises(UsageError) as refused:
        claim_directory(sweep_flags(tmp_path, study="other"))
    assert "holds the results of study 'tiny', not of 'other'" in str(refused.value)
    assert "--study tiny" in refused.value.hint
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot write the sweep's directory"):
        claim_directory(sweep_flags(tmp_path, out=tmp_path / "file"))


@pytest.mark.slow
def test_a_metric_the_task_does_not_measure_stops_the_sweep(tmp_path):
    spec = tmp_path / "tiny.cram"
    spec.write_text(TINY)
    args = ["sweep", str(spec), "--metric", "perplexity", "--epochs", "1", "--trials", "2", "--data", "digits"]
    result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "sweep")])  # a language model's metric
    assert result.exit_code == 1 and "does not measure 'perplexity'" in result.output and "accuracy" in result.output


def test_config_values_join_the_space(tmp_path):
    from cramnet.search.config_space import config_at, read_config_space

    config = tmp_path / "run.yaml"
    config.write_text("optimizer:\n  lr: log_range(1e-4, 1e-2)\nbatch_size: choice(32, 64)\nepochs: 2\n")
    tree, axes = read_config_space(config)
    assert [(a.name, a.kind) for a in axes] == [("optimizer.lr", "log_range"), ("batch_size", "choice")]
    resolved = config_at(tree, {"optimizer.lr": 0.003, "batch_size": 64}, "run.yaml")
    assert resolved["optimizer"]["lr"] == 0.003 and resolved["batch_size"] == 64 and resolved["epochs"] == 2
    config.write_text("optimizer:\n  lr: log_range(1e-2, 1e-3)\n")
    with pytest.raises(TrainError) as reversed_bounds:
        read_config_space(config)
    assert "the low bound 0.01 is above 0.001" in str(reversed_bounds.value)
    assert reversed_bounds.value.hint == "swap the bounds: log_range(0.001, 0.01)"


def test_check_on_a_space_keeps_the_size_limits(tmp_path):
    spec = tmp_path / "space.cram"
    spec.write_text(
        "let w = choice(4, 8)\nmodel m {\n input x: [4]\n x -> dense(w) -> relu -> dense(3) as y\n output y\n}\n"
    )
    result = CliRunner().invoke(app, ["check", str(spec), "--max-nodes", "1"])
    assert result.exit_code == 1 and "E217" in result.output, result.output
