"""`cramnet sweep`: search a spec's space with Optuna — TPE sampling, median pruning on the per-epoch
validation metric, each trial an ordinary run directory, the study in an RDB storage that local
worker processes (`--workers`) and other machines (the same command) share, and an interrupted
sweep resumed by running the command again."""

from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..compiler.space import Axis, Space
from ..compiler.space_reader import read_space_file
from ..dsl.errors import did_you_mean
from ..errors import CramnetError, UsageError
from ..train.config_schema import METRICS, SEED_LIMIT, is_metric
from ..train.tasks import HIGHER_IS_BETTER
from .config_space import read_config_space

SIZES = ("params", "flops")  # `--also` objectives, counted from the checked model


class MetricMissing(UsageError):
    """The metric asked for is not one the task measures."""


@dataclass
class SweepFlags:
    spec: Path
    trials: int = 20
    out: Path = Path("sweeps")
    config: Path | None = None
    data: str | None = None
    epochs: int | None = None
    metric: str = "loss"
    direction: str | None = None  # None: maximize accuracy-like metrics, minimize the rest
    also: list[str] = field(default_factory=list)
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    timeout: float | None = None
    prune_after: int = 4  # trials that finish before the pruner may stop one
    model: str | None = None
    plugins: list[str] = field(default_factory=list)
    seed: int | None = None

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'study.db').resolve()}"

    @property
    def study_name(self) -> str:
        return self.study or self.spec.stem

    def directions(self) -> list[str]:
        main = self.direction or ("maximize" if self.metric in HIGHER_IS_BETTER else "minimize")
        return [main] + ["minimize"] * len(self.also)


def _optuna():
    try:
        import optuna
    except ModuleNotFoundError:
        raise UsageError("cramnet sweep needs Optuna", 'install it: pip install "cramnet[sweep]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(url: str):
    """Optuna's RDB storage for `url` (SQLite waits for a busy file instead of failing)."""
    optuna = _optuna()
    import sqlalchemy

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
                if attempt == 4:  # workers starting together on a new database race to create its tables
                    raise
                time.sleep(0.5 * (attempt + 1))
    except ModuleNotFoundError as error:
        raise UsageError(
            f"the storage {url} needs the Python package '{error.name}'",
            f"install the database driver (pip install {error.name})",
        ) from None
    except Exception as error:  # sqlalchemy's errors: a malformed URL, a server that does not answer
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(
            f"cannot open the storage {url}: {first}",
            "give an RDB URL such as sqlite:///sweep.db or postgresql://user@host/db",
        ) from None


def open_study(flags: SweepFlags, storage):
    optuna = _optuna()
    directions = flags.directions()
    sampler = optuna.samplers.TPESampler(seed=flags.seed)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=flags.prune_after, n_warmup_steps=0)
        if len(directions) == 1
        else optuna.pruners.NopPruner()  # Optuna prunes single-objective studies only
    )
    for attempt in range(3):  # two machines creating one study at once: the second loads it
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=flags.study_name,
                directions=directions,
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
            break
        except optuna.exceptions.DuplicatedStudyError:
            if attempt == 2:
                raise
            time.sleep(0.5)
    if flags.seed is not None and study.trials:  # resumed: the seed's stream again would redraw the points run
        resumed = np.random.SeedSequence([flags.seed, len(study.trials)]).generate_state(1)[0]
        study.sampler = optuna.samplers.TPESampler(seed=int(resumed))
    if list(study.directions) != [getattr(optuna.study.StudyDirection, d.upper()) for d in directions]:
        raise UsageError(
            f"study '{flags.study_name}' in {flags.storage_url} has other objectives",
            "give another --study name, or the same --metric/--direction/--also as before",
        )
    return study


@dataclass
class Search:
    """What every worker needs: the spec's space, the config tree and its axes."""

    flags: SweepFlags
    space: Space
    tree: dict
    config_axes: list[Axis]

    @property
    def axes(self) -> list[Axis]:
        return self.space.axes + self.config_axes


def claim_directory(flags: SweepFlags) -> None:
    """One study per --out directory: its trials/, trials.csv and best.cram are that study's, so a
    second study there (another --study) would overwrite them. The first sweep marks the directory."""
    marker = flags.out / "sweep.json"
    try:
        flags.out.mkdir(parents=True, exist_ok=True)
        try:
            with open(marker, "x") as claimed:  # created by one sweep only, however many start at once
                claimed.write(json.dumps({"study": flags.study_name}) + "\n")
            return
        except FileExistsError:
            pass
    except OSError as error:  # --out names a file, or a place this user cannot write
        raise UsageError(
            f"--out {flags.out}: cannot write the sweep's directory ({error.strerror or error})",
            "give --out a directory you can write",
        ) from None
    try:
        held = json.loads(marker.read_text()[:4096]).get("study")
    except (ValueError, AttributeError, OSError):
        held = None
    if held != flags.study_name:
        shown = f"study '{held}'" if isinstance(held, str) else "another sweep (unreadable sweep.json)"
        raise UsageError(
            f"{flags.out} holds the results of {shown}, not of '{flags.study_name}'",
            "give this sweep its own --out directory"
            + (f", or --study {held} to resume that one" if isinstance(held, str) else ""),
        )


def prepare_search(flags: SweepFlags) -> Search:
    if flags.trials < 1:
        raise UsageError("--trials must be at least 1")
    if not is_metric(flags.metric):  # before the directory and the study exist: a study keeps its direction
        raise UsageError(
            f"--metric {flags.metric!r} is not a metric",
            did_you_mean(flags.metric, METRICS) or f"choose from: {', '.join(METRICS)} (or a block's aux_*)",
        )
    for name in flags.also:
        if name not in SIZES:
            raise UsageError(f"--also {name!r} is not an objective", f"choose from: {', '.join(SIZES)}")
    if flags.direction not in (None, "maximize", "minimize"):
        raise UsageError(f"--direction {flags.direction!r}", "choose maximize or minimize")
    space = read_space_file(flags.spec)
    tree, config_axes = read_config_space(flags.config)
    if not space.axes and not config_axes:
        raise UsageError(
            f"{flags.spec} has nothing to search",
            "write a let as a space: `let width = choice(32, 64)`, or a config value as `log_range(1e-4, 1e-2)`",
        )
    return Search(flags, space, tree, config_axes)


def suggest(trial, axis: Axis) -> Any:
    if axis.kind == "choice":
        return trial.suggest_categorical(axis.name, [option.value for option in axis.options])
    log = axis.kind == "log_range"
    if axis.integer:
        return trial.suggest_int(axis.name, int(axis.low), int(axis.high), step=axis.step, log=log)
    return trial.suggest_float(axis.name, float(axis.low), float(axis.high), log=log)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def count_taken(study, below: int | None = None) -> int:
    """Trials finished or running (numbered below `below`): what counts toward --trials."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if below is None or t.number < below)


def requeue_dead(study, storage) -> int:
    """Trials left running by a process of this machine that is gone (killed): failed and queued again."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    found = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker", "")
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid)):
            continue
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
            found += 1
    return found


def _alive(pid: int) -> bool:
    """Whether a process of this machine still runs (one of another user's answers PermissionError: alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def work(search: Search, study, on_trial: Callable[[Any], None] | None = None, threads: int | None = None) -> int:
    """Run trials until the study holds --trials finished or running ones (or --timeout passes);
    returns how many this worker ran."""
    import torch

    from .trial import run_trial

    if threads:
        torch.set_num_threads(threads)
    flags = search.flags
    started = time.monotonic()
    ran = 0
    while count_taken(study) < flags.trials:
        if flags.timeout is not None and time.monotonic() - started > flags.timeout:
            break
        trial = study.ask()
        if count_taken(study, below=trial.number) >= flags.trials:  # another worker took the last one
            from optuna.trial import TrialState

            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr("worker", worker_id())
        try:
            run_trial(search, study, trial)
        except KeyboardInterrupt:
            from optuna.trial import TrialState

            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})  # first when resumed
            raise
        ran += 1
        if on_trial is not None:
            on_trial(study.trials[trial.number] if trial.number < len(study.trials) else trial)
    return ran


def _spawned(flags: SweepFlags, threads: int, index: int) -> None:  # a --workers process (spawned)
    if flags.seed is not None:  # one seed for every worker would draw the same points in each
        flags = replace(flags, seed=(flags.seed + index) % (SEED_LIMIT + 1))  # one seed per worker, in range
    search = prepare_search(flags)
    study = open_study(flags, open_storage(flags.storage_url))
    try:
        work(search, study, threads=threads)
    except (KeyboardInterrupt, CramnetError):
        pass


def run_workers(search: Search, study, on_trial, workers: int) -> None:
    """This process and `workers - 1` more, all on one study."""
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    others = [context.Process(target=_spawned, args=(search.flags, threads, i)) for i in range(1, workers)]
    for process in others:
        process.start()
    try:
        work(search, study, on_trial, threads if workers > 1 else None)
    finally:
        for process in others:
            process.join()


def best_trial(study):
    """The winner: the best trial, or on a Pareto front the one best in the first objective."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        return None
    if len(study.directions) == 1:
        return study.best_trial
    front = study.best_trials
    sign = 1 if study.directions[0].name == "MAXIMIZE" else -1
    return max(front, key=lambda t: sign * t.values[0])


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
