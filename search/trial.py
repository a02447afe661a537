"""One trial of a sweep: a point drawn, the spec fixed there and checked, then trained as an ordinary
run (its own directory under the sweep's) with the validation metric reported each epoch."""

from __future__ import annotations

from typing import Any

from ..compiler.api import check_spec
from ..dsl.errors import SpecErrors, did_you_mean
from ..errors import CramnetError
from ..train.run_dir import read_rows


def trial_dir(search, number: int):
    return search.flags.out / "trials" / f"{number:04d}"


def run_trial(search, study, trial) -> None:
    """Train the trial's point and tell the study how it went (complete, pruned or failed)."""
    import optuna
    from optuna.trial import TrialState

    from ..train.loop import train
    from .sweep import MetricMissing, suggest

    flags = search.flags
    spec_point = {axis.name: suggest(trial, axis) for axis in search.space.axes}
    config_point = {axis.name: suggest(trial, axis) for axis in search.config_axes}
    earlier = _same_point(study, trial)
    if earlier is not None:  # a small space drawn twice: the point was trained already, its result stands
        trial.set_user_attr("same_as", earlier.number)
        for key in ("run", "params"):
            trial.set_user_attr(key, earlier.user_attrs.get(key))
        study.tell(trial, list(earlier.values))
        return
    out = trial_dir(search, trial.number)
    trial.set_user_attr("run", str(out))
    try:
        checked = check_spec(search.space.text, flags.model, flags.plugins, path=search.space.path, choices=spec_point)
    except SpecErrors as failure:  # this point of the space does not build: a failed trial, not a failed sweep
        trial.set_user_attr("error", failure.errors[0].message)
        study.tell(trial, state=TrialState.FAIL)
        return
    summary = checked.summary()
    sizes = {"params": summary.params, "flops": _number(summary.flops)}
    trial.set_user_attr("params", sizes["params"])
    config = config_at(search, config_point, out)
    metric = f"val_{flags.metric}"
    single = len(study.directions) == 1

    def on_epoch_end(epoch: int) -> None:
        row = read_rows(out / "metrics.csv")[-1]
        if row.get(metric) is None:
            measured = ", ".join(k.removeprefix("val_") for k in row if k.startswith("val_"))
            hint = did_you_mean(flags.metric, [k.removeprefix("val_") for k in row if k.startswith("val_")])
            raise MetricMissing(f"the task does not measure '{flags.metric}'", hint or f"--metric one of: {measured}")
        if single:
            trial.report(row[metric], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

    try:
        result = train(checked, config, model=flags.model, plugins=flags.plugins, on_epoch_end=on_epoch_end)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return
    except MetricMissing:
        study.tell(trial, state=TrialState.FAIL)
        raise
    except CramnetError as failure:  # a point that trains badly (a NaN loss, say) fails alone
        trial.set_user_attr("error", str(failure))
        study.tell(trial, state=TrialState.FAIL)
        return
    values = [row[metric] for row in result.history if row.get(metric) is not None]
    best = max(values) if study.directions[0].name == "MAXIMIZE" else min(values)
    study.tell(trial, [best] + [sizes[name] for name in flags.also])


def _same_point(study, trial):
    """A finished trial of the study at the same point as `trial`, if any."""
    from optuna.trial import TrialState

    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if other.number != trial.number and other.params == trial.params:
            return other
    return None


def config_at(search, point: dict[str, Any], out) -> dict:
    from .config_space import config_at as at

    flags = search.flags
    tree = dict(search.tree)
    if flags.data is not None:
        tree["data"] = {**tree.get("data", {}), "name": flags.data}
    if flags.epochs is not None:
        tree["epochs"] = flags.epochs
    tree["out"] = str(out)
    return at(tree, point, str(flags.config or "the sweep"))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
