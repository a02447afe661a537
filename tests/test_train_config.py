"""The run config: schema, did-you-mean errors, --set overrides, flags over files."""

from pathlib import Path

import pytest

from cramnet.train.commands import TrainFlags, resolve_config
from cramnet.train.config import apply_sets, defaults, get, read_config
from cramnet.train.errors import TrainError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_a_full_config_reads_and_keeps_every_key(tmp_path):
    config = read_config(
        write(
            tmp_path,
            """
data: {name: digits, val_fraction: 0.2}
task: classification
optimizer: {name: sgd, lr: 1e-2, momentum: 0.8}
schedule: {name: constant}
epochs: 3
batch_size: 16
precision: bf16
device: cpu
seed: 7
checkpoint: {every: 2}
early_stopping: {patience: 3}
""",
        )
    )
    assert get(config, "optimizer.lr") == 0.01  # YAML 1.1 reads 1e-2 as a string; the schema makes it a float
    assert get(config, "data.val_fraction") == 0.2 and config["epochs"] == 3 and config["seed"] == 7
    assert get(config, "checkpoint.every") == 2 and get(config, "optimizer.name") == "sgd"


@pytest.mark.parametrize(
    "text, message, hint",
    [
        ("optimizer: {lrr: 0.1}", "unknown key 'optimizer.lrr'", "optimizer.lr"),
        ("optimiser: {lr: 0.1}", "unknown key 'optimiser.lr'", "optimizer.lr"),
        ("epoch: 3", "unknown key 'epoch'", "epochs"),
        ("batch_size: many", "'batch_size' must be int", None),
        ("epochs: 0", "'epochs' must be at least 1", None),
        ("optimizer: {lr: -1}", "'optimizer.lr' must be above 0", None),
        ("precision: bf61", "'precision' cannot be 'bf61'", "bf16"),
        ("data: {val_fraction: 1.5}", "'data.val_fraction' must be in (0, 1)", None),
        ("compile: 3", "'compile' must be bool", None),
        # was "unknown key 'optimizer'" (did you mean 'optimizer.lr'?): the section is known, its value is not one
        ("optimizer: 0.01", "'optimizer' is a section of keys, not a value", "optimizer.name, optimizer.lr"),
        ("schedule: cosine", "'schedule' is a section of keys, not a value", "schedule.name"),
        # was taken, and refused only after the first epoch had trained
        ("early_stopping: {metric: acuracy}", "'early_stopping.metric' must be a metric", "did you mean 'accuracy'?"),
    ],
)
def test_config_mistakes_name_the_key_and_suggest(tmp_path, text, message, hint):
    with pytest.raises(TrainError) as failure:
        read_config(write(tmp_path, text))
    assert message in str(failure.value) and "run.yaml" in str(failure.value)
    if hint:
        assert hint in failure.value.hint


def test_broken_yaml_and_non_mapping_are_clear(tmp_path):
    with pytest.raises(TrainError, match="not valid YAML at line"):
        read_config(write(tmp_path, "epochs: [1,\n"))
    with pytest.raises(TrainError, match="a config is a mapping"):
        read_config(write(tmp_path, "- 1\n- 2\n"))


def test_set_overrides_are_typed_and_checked():
    config = apply_sets(
        defaults(), ["optimizer.lr=5e-4", "data.options.length=16", "data.options.count=8", "compile=true"]
    )
    assert get(config, "optimizer.lr") == 5e-4 and config["compile"] is True
    assert get(config, "data.options") == {"length": 16, "count": 8}
    with pytest.raises(TrainError, match="not KEY=VALUE"):
        apply_sets(defaults(), ["lr"])
    with pytest.raises(TrainError, match="unknown key 'optimizer.learning_rate'"):
        apply_sets(defaults(), ["optimizer.learning_rate=0.1"])


def test_flags_override_the_file_and_set(tmp_path):
    path = write(tmp_path, "epochs: 3\noptimizer: {lr: 0.1}\n")
    flags = TrainFlags(Path("specs/mlp.cram"), config=path, sets=["epochs=4"], lr=0.5, data="digits")
    config = resolve_config(flags)
    assert config["epochs"] == 4 and get(config, "optimizer.lr") == 0.5 and get(config, "data.name") == "digits"


def test_the_metric_catalogue_holds_what_every_task_measures():
    """`early_stopping.metric` and `sweep --metric` are checked against METRICS before anything runs."""
    from cramnet.train.config_schema import METRICS, TASKS
    from cramnet.train.tasks import HIGHER_IS_BETTER, Task

    assert set(HIGHER_IS_BETTER) <= set(METRICS)
    sums = {"loss": 1.0, "n": 2, "correct": 1, "squared": 1.0, "wait_nll": 1.0, "top_l": 1.0, "bin_correct": 1}
    sums |= {"pairs": 2, "seg_both_0": 1, "seg_pred_0": 1, "seg_true_0": 1}
    for name in TASKS[1:]:
        assert set(Task(name, "out", 0, "cross_entropy", classes=3).metrics(sums)) <= set(METRICS), name
