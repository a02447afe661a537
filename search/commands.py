"""The body of `cramnet sweep` (cli/ only wires it): the study opened, the workers run, a line per
trial as it finishes, and the results written and tabled at the end."""

from __future__ import annotations

from rich.console import Console

from .results import trial_line, trials_table, write_best, write_plots, write_trials_csv
from .sweep import SweepFlags, claim_directory, open_storage, open_study, prepare_search, requeue_dead, run_workers


def run_sweep(flags: SweepFlags, console: Console) -> None:
    search = prepare_search(flags)
    claim_directory(flags)
    storage = open_storage(flags.storage_url)
    study = open_study(flags, storage)
    retried = requeue_dead(study, storage)
    done = sum(1 for t in study.trials if t.state.name in ("COMPLETE", "PRUNED"))
    axes = "; ".join(f"{axis.name}: {axis.describe()}" for axis in search.axes)
    console.print(f"searching {axes}", style="dim")
    resumed = f", resuming: {done} finished" if done else ""
    console.print(
        f"sweep '{flags.study_name}': {flags.trials} trials in {flags.storage_url}{resumed}"
        + (f" ({retried} left running by a killed process queued again)" if retried else "")
    )
    try:
        run_workers(search, study, lambda trial: console.print(trial_line(search, trial)), flags.workers)
    except KeyboardInterrupt:
        console.print("interrupted: run the same command to resume the sweep", style="yellow")
        _finish(search, study, console)
        raise
    _finish(search, study, console)


def _finish(search, study, console) -> None:
    flags = search.flags
    console.print(trials_table(search, study.get_trials(deepcopy=False), f"sweep '{flags.study_name}'"))
    write_trials_csv(search, study, flags.out / "trials.csv")
    best = write_best(search, study, flags.out)
    for note in write_plots(study, flags.out, [flags.metric] + flags.also):
        console.print(note, style="dim")
    if best is None:
        console.print("no trial finished: no best.cram", style="yellow")
    else:
        console.print(f"best: {best} — results in {flags.out} (trials.csv, plots)")
