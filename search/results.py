"""What a sweep leaves in its directory: trials.csv, best.cram (and best.yaml when the config was
searched), and Optuna's plots; and the rich table of trials."""

from __future__ import annotations

import warnings
from pathlib import Path

from rich.table import Table

from ..dsl.format import format_spec
from ..train.config import dump
from ..train.run_dir import write_rows, write_text
from .sweep import Search, best_trial


def _value(trial, index: int = 0) -> float | None:
    if trial.values is not None and len(trial.values) > index:
        return trial.values[index]
    if index == 0 and trial.intermediate_values:  # a pruned trial: its last reported value
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def _show(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def trial_row(search: Search, trial) -> dict:
    flags = search.flags
    row = {"trial": trial.number, "state": trial.state.name.lower(), flags.metric: _value(trial)}
    for i, name in enumerate(flags.also, start=1):
        value = _value(trial, i)
        row[name] = int(value) if value is not None and value == value and abs(value) < 1e300 else value
    if "params" not in row:
        row["params"] = trial.user_attrs.get("params")
    for axis in search.axes:
        row[axis.name] = trial.params.get(axis.name)
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    row |= {"seconds": seconds, "run": trial.user_attrs.get("run", ""), "error": trial.user_attrs.get("error", "")}
    return row


def trials_table(search: Search, trials, title: str) -> Table:
    flags = search.flags
    table = Table(title=title, title_justify="left")
    rows = [trial_row(search, t) for t in trials if not t.user_attrs.get("surplus")]
    columns = list(dict.fromkeys(k for row in rows for k in row if k not in ("run", "error")))
    for column in columns:
        table.add_column(column, justify="right" if column in ("trial", flags.metric, "params", "seconds") else "left")
    for row in rows:
        style = {"complete": None, "pruned": "dim", "fail": "red"}.get(row["state"])
        table.add_row(*(_show(row[c]) for c in columns), style=style)
    return table


def trial_line(search: Search, trial) -> str:
    row = trial_row(search, trial)
    point = ", ".join(f"{axis.name} = {_show(row[axis.name])}" for axis in search.axes)
    value = f"{search.flags.metric} {_show(row[search.flags.metric])}" if row[search.flags.metric] is not None else ""
    size = f"{int(row['params']):,} parameters" if isinstance(row.get("params"), (int, float)) else ""
    reason = f" ({row['error']})" if row["error"] else ""
    if "same_as" in trial.user_attrs:
        reason = f" (the point of trial {trial.user_attrs['same_as']}, not trained again)"
    parts = [p for p in (value, size, point) if p]
    return f"trial {trial.number} {row['state']}{reason}: " + "; ".join(parts)


def write_trials_csv(search: Search, study, path: Path) -> None:
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
    write_rows(path, [trial_row(search, t) for t in trials])


def write_best(search: Search, study, out: Path) -> Path | None:
    """best.cram: the spec with the winner's choices written in, `use` paths reaching the same files
    from `out`, through the formatter; best.yaml beside it when the config was searched."""
    trial = best_trial(study)
    if trial is None:
        return None
    space = search.space
    point = {axis.name: trial.params[axis.name] for axis in space.axes}
    text = space.fix(point, out_dir=out)
    flags = search.flags
    shown = [v if i == 0 else int(v) for i, v in enumerate(trial.values)]
    value = ", ".join(f"{name} {_show(v)}" for name, v in zip([flags.metric] + flags.also, shown))
    header = f"# The best of sweep '{flags.study_name}' over {Path(space.path).name}: trial {trial.number}, {value}\n"
    path = out / "best.cram"
    write_text(path, header + format_spec(text, str(path)))
    run_config = Path(trial.user_attrs.get("run") or "") / "config.yaml"
    if run_config.is_file():  # the winner's whole run config, searched keys and flags included
        import yaml

        config = yaml.safe_load(run_config.read_text())
        config.pop("out", None)
        write_text(out / "best.yaml", dump(config))
    return path


def write_plots(study, out: Path, names: list[str]) -> list[str]:
    """Optuna's matplotlib plots as PNGs; returns notes on those that could not be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    multi = len(names) > 1
    wanted = {"parallel_coordinates": plots.plot_parallel_coordinate}
    if multi:
        wanted["pareto_front"] = plots.plot_pareto_front
    else:
        wanted["history"] = plots.plot_optimization_history
        wanted["importances"] = plots.plot_param_importances
    notes = []
    for name, draw in wanted.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name == "pareto_front":
                    axes = draw(study, target_names=names)
                elif multi:
                    axes = draw(study, target=lambda t: t.values[0], target_name=names[0])
                else:
                    axes = draw(study, target_name=names[0])
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.savefig(out / f"{name}.png", dpi=120, bbox_inches="tight")
            plt.close(figure)
        except Exception as error:  # too few finished trials for this plot, say
            notes.append(f"no {name} plot: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    return notes
