"""The bodies of `cramnet train`, `evaluate`, `predict` and `generate` (cli/ only wires them):
flags merged into the config, runs launched (under torchrun for --nproc), results printed."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..errors import DeviceUnavailable
from .config import apply_sets, defaults, dump, merge, read_config
from .errors import TrainError


@dataclass
class TrainFlags:
    """What `cramnet train` was given; None means "not given" (the config decides)."""

    spec: Path | None
    config: Path | None = None
    sets: list[str] = field(default_factory=list)
    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    device: str | None = None
    precision: str | None = None
    compile: bool | None = None
    seed: int | None = None
    out: Path | None = None
    resume: Path | None = None
    nproc: int | None = None
    model: str | None = None
    plugins: list[str] = field(default_factory=list)
    quiet: bool = False
    rendezvous: dict[str, str | None] = field(default_factory=dict)
    overwrite: bool = False
    init_from: Path | None = None
    freeze: list[str] = field(default_factory=list)
    strategy: str | None = None

    def overrides(self) -> dict:
        tree: dict = {}
        pairs = {
            "data": self.data,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "device": self.device,
            "precision": self.precision,
            "compile": self.compile,
            "seed": self.seed,
            "out": str(self.out) if self.out else None,
        }
        for key, value in pairs.items():
            if value is not None:
                tree[key] = {"name": value} if key == "data" else value
        if self.lr is not None:
            tree["optimizer"] = {"lr": self.lr}
        if self.init_from is not None:
            tree["init_from"] = str(self.init_from)
        if self.freeze:
            tree["freeze"] = list(self.freeze)
        if self.strategy is not None:
            tree["distributed"] = {"strategy": self.strategy}
        return tree


def resolve_config(flags: TrainFlags) -> dict:
    """Defaults, then the config file (or the resumed run's), then --set, then the flags."""
    if flags.resume is not None:
        if flags.config is not None:
            raise TrainError(
                "--resume continues a run with its own config.yaml; --config cannot change it",
                "drop --config (flags such as --epochs still apply)",
            )
        if not (flags.resume / "config.yaml").is_file():
            raise TrainError(f"{flags.resume} is not a cramnet run directory (no config.yaml)")
        config = read_config(flags.resume / "config.yaml")
    else:
        config = read_config(flags.config) if flags.config is not None else defaults()
    started = config.get("init_from")
    config = merge(apply_sets(config, flags.sets), flags.overrides(), "flags")
    if flags.resume is not None and config.get("init_from") != started:  # it would be ignored, yet recorded
        raise TrainError(
            f"--resume continues {flags.resume} from its own weights; init_from ({config['init_from']}) "
            "starts a new run from other weights",
            "drop --init-from to resume, or train without --resume (and another --out) to start from them",
        )
    return config


def run_train(flags: TrainFlags, console: Console) -> None:
    from ..compiler.trial import out_of_memory
    from .loop import train
    from .progress import metrics_table

    if flags.spec is None and flags.resume is None:
        raise TrainError("give a spec to train (or --resume RUN)")
    config = resolve_config(flags)
    if flags.nproc is not None and flags.nproc > 1:
        _launch(flags, config, console)
        return
    try:
        result = train(
            flags.spec,
            config,
            model=flags.model,
            plugins=flags.plugins,
            resume=flags.resume,
            console=None if flags.quiet else console,
            overwrite=flags.overwrite,
        )
    except RuntimeError as error:
        if not out_of_memory(error):
            raise
        hint = "use a smaller --batch-size, or a smaller model"
        raise DeviceUnavailable(f"out of memory while training: {str(error).splitlines()[0]}", hint) from None
    if not result.writer:  # another process of a distributed run: rank 0 reports it, once
        return
    if not flags.quiet and result.final is not None:
        console.print(metrics_table(result.final))
    console.print(Text(f"run directory: {result.out}"))


def _launch(flags: TrainFlags, config: dict, console: Console) -> None:
    """Re-run this command in `nproc` processes per node under torchrun; the run directory is fixed
    here so that every process agrees on it."""
    from ..compiler.api import check_spec
    from .distributed import launch_command
    from .run_dir import claim_out, default_out

    if flags.resume is not None:
        out = flags.resume
    elif config["out"]:
        out = Path(config["out"])
    else:
        out = default_out(check_spec(flags.spec, flags.model, flags.plugins).name)
    if flags.resume is None:
        if flags.overwrite:
            raise TrainError(
                "--overwrite cannot be combined with --nproc", f"remove {out} first, or choose another --out"
            )
        claim_out(out)
    resolved = out.parent / f".{out.name}.launch.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    resolved.write_text(dump({**config, "out": str(out)}))
    argv = ["train"]
    argv += [str(flags.spec)] if flags.spec is not None else []
    argv += ["--resume", str(flags.resume)] if flags.resume is not None else ["--config", str(resolved)]
    if flags.resume is not None:
        argv += [f"--set={s}" for s in flags.sets] + [f"--set={k}={v}" for k, v in _dotted(flags.overrides())]
    argv += [f"--model={flags.model}"] if flags.model else []
    argv += [f"--plugin={p}" for p in flags.plugins]
    argv += ["--quiet"] if flags.quiet else []
    command = launch_command(argv, flags.nproc, flags.rendezvous)
    if not flags.quiet:
        console.print("launching: " + " ".join(command[1:]))
    # torchrun sets OMP_NUM_THREADS=1 for each process when it is unset, with a banner saying so
    environment = {"OMP_NUM_THREADS": "1"} | dict(os.environ)
    try:
        code = subprocess.call(command, env=environment)
    finally:
        if flags.resume is None:
            resolved.unlink(missing_ok=True)
    if code != 0:
        raise TrainError(f"the distributed run failed (torchrun exited with {code})")


def _dotted(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def run_evaluate(
    run: Path, data: str | None, console: Console, weights: Path | None = None, device: str = "cpu"
) -> None:
    from .inference import evaluate_run
    from .progress import metrics_table

    metrics = evaluate_run(run, data, weights=weights, device=device)
    console.print(metrics_table(metrics, title=Text(str(run))))


def run_predict(
    run: Path, file: Path, output: Path | None, console: Console, weights: Path | None = None, device: str = "cpu"
) -> None:
    from .predictions import predict_file

    console.print(Text(f"wrote {predict_file(run, file, output, weights, device)}"))


def run_generate(
    run: Path,
    prompt: str | None,
    prompt_ids: str | None,
    sampling,
    weights: Path | None,
    console: Console,
    device: str = "cpu",
) -> None:
    from .generation import generate, parse_ids

    ids = parse_ids(prompt_ids) if prompt_ids is not None else None
    console.print(generate(run, prompt, sampling, weights, ids, device).shown(), markup=False)
