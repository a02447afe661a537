"""Commands that train: one run (train) or a study of runs over a spec's choices (sweep). Bodies in
train/commands.py and search/commands.py."""

from __future__ import annotations

from pathlib import Path

import typer

from .messages import out, print_mistake, run_command
from .options import SEED_LIMIT, ModelOption, PluginOption, device_option, precision_option, strategy_option
from .usage import USAGE


def train(
    spec: Path | None = typer.Argument(None, metavar="SPEC", help="The .cram file (optional with --resume)."),
    config: Path | None = typer.Option(None, "--config", metavar="FILE", help="A run.yaml holding the whole run."),
    set_: list[str] | None = typer.Option(
        None, "--set", metavar="KEY=VALUE", help="Override a config key: --set optimizer.lr=0.01."
    ),
    data: str | None = typer.Option(None, "--data", metavar="NAME|FILE", help="A built-in data set or a data file."),
    epochs: int | None = typer.Option(
        None, "--epochs", metavar="N", min=1, help="Passes over the training split (config: epochs)."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", metavar="N", min=1, help="Examples per step (config: batch_size)."
    ),
    lr: float | None = typer.Option(None, "--lr", metavar="X", help="Learning rate."),
    device: str | None = device_option(None),
    precision: str | None = precision_option(None, "fp32, bf16 or fp16 (a CUDA GPU's autocast)."),
    compile_: bool | None = typer.Option(None, "--compile/--no-compile", help="Run under torch.compile."),
    seed: int | None = typer.Option(
        None,
        "--seed",
        metavar="N",
        min=0,
        max=SEED_LIMIT,
        help="Seed of the weights, data order and dropout (config: seed).",
    ),
    out_dir: Path | None = typer.Option(
        None, "--out", metavar="DIR", help="Run directory (default runs/MODEL-TIMESTAMP)."
    ),
    resume: Path | None = typer.Option(
        None, "--resume", metavar="RUN", help="Continue the run in this directory exactly."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run in --out (kept until the new run finishes)."
    ),
    nproc: int | None = typer.Option(
        None, "--nproc", metavar="N", min=1, help="Processes per node (DDP through torchrun)."
    ),
    strategy: str | None = strategy_option("ddp (the whole model in each process) or fsdp (sharded)."),
    nnodes: str | None = typer.Option(None, "--nnodes", metavar="N", help="torchrun: number of nodes (or MIN:MAX)."),
    node_rank: int | None = typer.Option(None, "--node-rank", metavar="N", help="torchrun: this node's rank."),
    rdzv_endpoint: str | None = typer.Option(
        None, "--rdzv-endpoint", metavar="HOST:PORT", help="torchrun: HOST:PORT to meet at."
    ),
    rdzv_id: str | None = typer.Option(None, "--rdzv-id", metavar="ID", help="torchrun: the job's id."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables (for scripts)."),
    init_from: Path | None = typer.Option(
        None,
        "--init-from",
        metavar="PATH",
        help="Start from published weights: an HF model directory, .safetensors or a run.",
    ),
    freeze: list[str] | None = typer.Option(
        None, "--freeze", metavar="NODE", help="Keep a node's parameters fixed (repeatable)."
    ),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Train a spec: on built-in data chosen from its inputs and outputs, or as a config says."""
    from ..train.commands import TrainFlags, run_train

    if spec is None and resume is None:  # a command-line mistake: exit 2, as typer's own are told
        print_mistake(
            "cramnet train needs SPEC (or --resume RUN)",
            "usage: cramnet train [OPTIONS] [SPEC] (`cramnet train -h` says more)",
        )
        raise typer.Exit(USAGE)
    rendezvous = {"nnodes": nnodes, "node_rank": node_rank, "rdzv_endpoint": rdzv_endpoint, "rdzv_id": rdzv_id}
    flags = TrainFlags(
        spec,
        config,
        set_ or [],
        data,
        epochs,
        batch_size,
        lr,
        device,
        precision,
        compile_,
        seed,
        out_dir,
        resume,
        nproc,
        model,
        plugin or [],
        quiet,
        {k: v for k, v in rendezvous.items() if v is not None},
        overwrite,
        init_from=init_from,
        freeze=freeze or [],
    )
    flags.strategy = strategy
    run_command(lambda: run_train(flags, out))  # a training body's TrainError is a CramnetError like any other


def sweep(
    spec: Path = typer.Argument(..., metavar="SPEC", help="The .cram file with `choice(…)` / `range(…)` lets."),
    trials: int = typer.Option(
        20, "--trials", metavar="N", min=1, help="Trials in the study, counting those already run."
    ),
    data: str | None = typer.Option(None, "--data", metavar="NAME|FILE", help="A built-in data set or a data file."),
    epochs: int | None = typer.Option(None, "--epochs", metavar="N", min=1, help="Epochs per trial."),
    config: Path | None = typer.Option(
        None, "--config", metavar="FILE", help="A run.yaml; values like log_range(1e-4, 1e-2) join the search."
    ),
    metric: str = typer.Option(
        "loss", "--metric", metavar="METRIC", help="The validation metric to optimise (loss, accuracy, …)."
    ),
    direction: str | None = typer.Option(
        None, "--direction", metavar="maximize|minimize", help="maximize or minimize (default: from the metric)."
    ),
    also: list[str] | None = typer.Option(
        None, "--also", metavar="params|flops", help="Another objective, minimised: params or flops."
    ),
    storage: str | None = typer.Option(
        None, "--storage", metavar="URL", help="Optuna RDB URL (default: sqlite in --out)."
    ),
    study: str | None = typer.Option(
        None, "--study", metavar="NAME", help="Study name (default: the spec's file name)."
    ),
    workers: int = typer.Option(1, "--workers", metavar="N", min=1, help="Local worker processes."),
    timeout: float | None = typer.Option(
        None, "--timeout", metavar="SECONDS", help="Start no trial after this many seconds."
    ),
    prune_after: int = typer.Option(
        4, "--prune-after", metavar="N", min=0, help="Finished trials before pruning starts."
    ),
    seed: int | None = typer.Option(None, "--seed", metavar="N", min=0, max=SEED_LIMIT, help="Seed of the sampler."),
    out_dir: Path = typer.Option(
        Path("sweeps"), "--out", metavar="DIR", help="Sweep directory: trials/, trials.csv, best.cram."
    ),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Search a spec's space with Optuna: TPE, median pruning, a run directory per trial, best.cram."""
    from ..search.commands import run_sweep
    from ..search.sweep import SweepFlags

    flags = SweepFlags(
        spec,
        trials,
        out_dir,
        config,
        data,
        epochs,
        metric,
        direction,
        list(also or []),
        storage,
        study,
        workers,
        timeout,
        prune_after,
        model,
        list(plugin or []),
        seed,
    )
    run_command(lambda: run_sweep(flags, out))
