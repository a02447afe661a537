"""The `cramnet` command line: typer commands that call the library and print with rich."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from . import __version__
from .dsl.errors import MAX_ERRORS_SHOWN, MAX_NOTES_SHOWN, SpecError, SpecErrors, clip, excerpt, more_errors
from .dsl.highlight import highlight_excerpt
from .errors import CramnetError, UsageError

# as train/config.py's (importing it would load torch before --help): seeds past it overflow the generators
SEED_LIMIT = 2**32 - 1

app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    rich_markup_mode=None,
    help="cramnet: write a model as a .cram spec; check, summarise, compile and train it.",
)
# markup off: file names and messages print as they are (`--out 'exp[lr=0.1]'` printed "exp", and
# `runs/b[/]/x` crashed the printer); styles come from rich Text objects instead
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

ModelOption = typer.Option(None, "--model", "-m", help="Which model, where the file declares several.")
PluginOption = typer.Option(None, "--plugin", help="Import this Python module for its blocks (repeatable).")
DimOption = typer.Option(None, "--dim", help="Size a run-time dimension: --dim seq=1024 (repeatable).")
BatchOption = typer.Option(1, "--batch", min=1, help="Batch size for FLOPs and memory figures.")
MaxNodesOption = typer.Option(
    None, "--max-nodes", min=1, help="Refuse a model that expands to more nodes (default 100,000)."
)
MaxParamsOption = typer.Option(None, "--max-params", min=1, help="Refuse a model with more parameters (default 10^13).")


UserError = UsageError  # the name this module used before errors.py; kept for code that imports it


def _version(value: bool) -> None:
    if value:
        out.print(f"cramnet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """cramnet: a declarative architecture composer."""


# -- printing errors ----------------------------------------------------------------------------


def print_spec_errors(failure: SpecErrors) -> None:
    for error in failure.errors[:MAX_ERRORS_SHOWN]:
        _print_error(error, failure.sources)
        err.print()
    hidden = len(failure.errors) - MAX_ERRORS_SHOWN
    if hidden > 0:
        err.print(Text(more_errors(hidden), style="bold"))
        err.print()
    count = len(failure.errors)
    err.print(Text(f"{count} error{'s' if count != 1 else ''}", style="bold red"))


def _print_error(error: SpecError, sources: dict[str, str]) -> None:
    head = Text()
    if error.span:
        head.append(f"{error.span}: ", style="bold")
    head.append(f"error[{error.code}]", style="bold red")
    head.append(f": {clip(error.message)}", style="bold")
    err.print(head)
    blocks = [(error.span, None)] if error.span else []
    blocks += [(span, note) for span, note in error.notes[:MAX_NOTES_SHOWN]]
    for span, note in blocks:
        if note:
            err.print(Text(clip(f"  note: {note} ({span})"), style="cyan"))
        for line in excerpt(span, sources):
            err.print(highlight_excerpt(line))
    if len(error.notes) > MAX_NOTES_SHOWN:
        err.print(Text(f"  … and {len(error.notes) - MAX_NOTES_SHOWN} more notes", style="cyan"))
    if error.hint:
        err.print(Text(clip(f"  hint: {error.hint}"), style="green"))


def _run(action) -> None:
    """Run a command body. User mistakes (`SpecErrors` and every `CramnetError`) print as messages,
    exit 1, never a traceback; any other exception is a bug in cramnet: exit 70 (EX_SOFTWARE)."""
    try:
        action()
    except SpecErrors as failure:
        print_spec_errors(failure)
        raise typer.Exit(1) from None
    except CramnetError as failure:
        err.print(Text(f"error: {failure}", style="bold red"))
        if failure.hint:
            err.print(Text(f"  hint: {failure.hint}", style="green"))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as failure:
        if os.environ.get("CRAMNET_DEBUG"):
            raise
        err.print(Text(f"internal error: {type(failure).__name__}: {failure}", style="bold red"))
        err.print(
            "  this is a bug in cramnet, not in your spec; please report it "
            "(rerun with CRAMNET_DEBUG=1 for the traceback to include)"
        )
        raise typer.Exit(70) from None


def parse_sizes(items: list[str] | None) -> dict[str, int]:
    from .compiler.arguments import INT_LIMIT

    sizes = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier() or not value.strip().lstrip("-").isdigit():
            raise UsageError(f"--dim {item!r} is not NAME=INTEGER", "write --dim seq=1024")
        if int(value) < 1:
            raise UsageError(f"--dim {item!r}: a size must be at least 1")
        if int(value) > INT_LIMIT:
            raise UsageError(f"--dim {item!r}: a size must be at most {INT_LIMIT:,}")
        sizes[name.strip()] = int(value)
    return sizes


def _limits(max_nodes: int | None, max_params: int | None) -> dict:
    """check_spec's size limits that a flag changed (the rest keep their defaults)."""
    return {k: v for k, v in {"max_nodes": max_nodes, "max_params": max_params}.items() if v is not None}


def _check(spec: Path, model: str | None, plugins: list[str] | None, max_nodes=None, max_params=None):
    from .compiler import check_spec

    return check_spec(spec, model, plugins or [], **_limits(max_nodes, max_params))


def _check_sized(
    spec: Path, model: str | None, plugins: list[str] | None, dims: list[str] | None, max_nodes=None, max_params=None
):
    """The checked spec and the run-time sizes given with --dim, each size checked against the model."""
    sizes = parse_sizes(dims)
    checked = _check(spec, model, plugins, max_nodes, max_params)
    _check_sizes(checked, sizes)
    return checked, sizes


def _check_sizes(checked, sizes: dict[str, int]) -> None:
    from .compiler.summary import model_symbols

    known = model_symbols(checked.model)
    for name in sizes:
        if name not in known:
            from .dsl.errors import did_you_mean

            hint = did_you_mean(name, known) or (
                f"its run-time sizes are: {', '.join(sorted(known))}" if known else "this model has no run-time sizes"
            )
            raise UsageError(f"--dim {name}: model '{checked.name}' has no size named '{name}'", hint)
    checked.check_sizes(sizes)  # a size a block cannot take (beyond a positional table) is located now


# -- commands -----------------------------------------------------------------------------------


@app.command()
def check(
    spec: Path = typer.Argument(..., help="The .cram file."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
    max_params: int | None = MaxParamsOption,
) -> None:
    """Check a spec: exit 0 with a verdict, or exit 1 listing every error with its location."""

    def action():
        from .search.check import spec_space

        space = spec_space(spec)
        if space is not None:  # a spec with `choice(…)` lets: check every point (search/check.py)
            from .search.check import run_check_space

            limits = _limits(max_nodes, max_params)
            return run_check_space(space, model, plugin or [], out, print_spec_errors, **limits)
        checked = _check(spec, model, plugin, max_nodes, max_params)
        summary = checked.summary()
        out.print(
            Text.assemble(
                ("ok", "bold green"),
                f": {spec} — model '{checked.name}', {summary.layers} layer{'s' if summary.layers != 1 else ''}, "
                f"{summary.params:,} parameters",
            )
        )

    _run(action)


@app.command()
def summary(
    spec: Path = typer.Argument(..., help="The .cram file."),
    model: str | None = ModelOption,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    tree: bool = typer.Option(False, "--tree", help="Print the blocks as a tree instead of a table."),
    dim: list[str] | None = DimOption,
    batch: int = BatchOption,
    depth: int | None = typer.Option(
        None, "--depth", min=1, help="One row per block instance or repeat nested deeper (1: the top level)."
    ),
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
    max_params: int | None = MaxParamsOption,
    nproc: int | None = typer.Option(None, "--nproc", min=1, help="Plan training memory per device for N processes."),
    strategy: str | None = typer.Option(None, "--strategy", help="ddp or fsdp, for the memory plan."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16, for the memory plan."),
) -> None:
    """Layers, shapes, parameters, FLOPs and memory, counted without allocating a weight."""

    def action():
        if tree and as_json:
            raise UsageError("--tree and --json cannot be combined")
        checked, sizes = _check_sized(spec, model, plugin, dim, max_nodes, max_params)
        if tree:
            from .render.command import run_summary_tree

            return run_summary_tree(checked, out)
        result = checked.summary(sizes, batch, depth)
        plan = None
        if nproc is not None or strategy is not None:
            from .train.memory_plan import plan_memory

            if strategy not in (None, "ddp", "fsdp") or precision not in ("fp32", "bf16", "fp16"):
                raise UsageError("--strategy is ddp or fsdp; --precision is fp32, bf16 or fp16")
            plan = plan_memory(
                checked, processes=nproc or 1, strategy=strategy or "ddp", precision=precision, batch=batch, sizes=sizes
            )
        if as_json:
            out.print_json(json.dumps(result.to_json() | ({"plan": plan.to_json()} if plan else {})))
        else:
            from .views import plan_table, summary_table

            out.print(summary_table(result, out.width))
            if plan is not None:
                out.print(plan_table(plan))

    _run(action)


@app.command("compile")
def compile_command(
    spec: Path = typer.Argument(..., help="The .cram file."),
    model: str | None = ModelOption,
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the generated module here."),
    dim: list[str] | None = DimOption,
    batch: int = typer.Option(2, "--batch", min=1, help="Batch of the test pass."),
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
    max_params: int | None = MaxParamsOption,
    skip_memory_check: bool = typer.Option(
        False, "--skip-memory-check", help="Build even when the estimate says the model will not fit."
    ),
) -> None:
    """Build the module, run one forward and backward pass on random inputs, report time and memory."""

    def action():
        from .compiler.memory import check_fits, estimate
        from .compiler.trial import pick_device, trial_run

        checked, sizes = _check_sized(spec, model, plugin, dim, max_nodes, max_params)
        if device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device {device!r} is not one of auto, cpu, cuda")
        if not skip_memory_check:  # before a weight is allocated: refused with the numbers
            check_fits(
                estimate(checked, sizes, batch),
                pick_device(device),
                checked.name,
                "build and step",
                "--skip-memory-check",
            )
        if output is not None:
            try:
                output.write_text(checked.source(standalone=True))
            except OSError as error:
                raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
        report = trial_run(checked, device, sizes, batch)
        out.print(
            Text.assemble(
                ("ok", "bold green"),
                f": {checked.name} on {report.device} — "
                f"{report.params:,} parameters, forward+backward {report.seconds * 1000:.1f} ms "
                f"(batch {batch}), peak memory {report.peak_memory_text}",
            )
        )
        if output is not None:
            out.print(f"wrote {output}")

    _run(action)


@app.command()
def blocks(
    name: str | None = typer.Argument(None, help="Show one block in full."), plugin: list[str] | None = PluginOption
) -> None:
    """The block catalogue: signatures, defaults, shapes and docs."""

    def action():
        from .blocks import all_blocks, load_plugins
        from .blocks.registry import all_families
        from .compiler.block_hints import unknown_block_hint
        from .compiler.stdlib import std_blocks
        from .views import block_detail, catalogue_table, std_block_detail

        load_plugins(plugin or [])
        registry = all_blocks()
        if name is None:
            out.print(catalogue_table(registry, all_families(), std_blocks()))
            return
        if name in std_blocks() and name not in registry:
            out.print(std_block_detail(std_blocks()[name]))
            return
        if name in all_families() and name not in registry:  # a family: its doc and its blocks
            members = {n: spec for n, spec in registry.items() if spec.family == name}
            out.print(catalogue_table(members, {name: all_families()[name]}))
            return
        if name not in registry:
            raise UsageError(f"no block named '{name}'", unknown_block_hint(name, set(registry) | set(std_blocks())))
        out.print(block_detail(registry[name]))

    _run(action)


# -- seeing inside: render, export, fmt (bodies in render/, export/, dsl/format.py) --------------


@app.command()
def render(
    spec: Path = typer.Argument(..., help="The .cram file."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="The file: .svg, .png, .pdf, .dot or .mmd (default MODEL.svg; mermaid: stdout)."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="svg, png, pdf, dot or mermaid (default: the suffix; must agree with it)."
    ),
    depth: int | None = typer.Option(
        None,
        "--depth",
        min=0,
        help="Open user blocks this deep; deeper: one box (default: as deep as fits about 60 boxes; 99: all).",
    ),
    expand: bool = typer.Option(False, "--expand", help="Draw every copy of a repeat, not the first marked × N."),
    rankdir: str = typer.Option("TB", "--rankdir", help="TB (top to bottom) or LR (left to right)."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
) -> None:
    """Draw the model with Graphviz (or as Mermaid): a box per stage, clusters per block."""
    from .render.command import run_render

    _run(lambda: run_render(_check(spec, model, plugin, max_nodes), output, fmt, depth, expand, rankdir, out, err))


@app.command()
def export(
    spec: Path = typer.Argument(..., help="The .cram file, or a run directory of `cramnet train`."),
    fmt: str = typer.Option("python", "--format", help="python (the module file of compile -o), onnx or hf."),
    output: Path | None = typer.Option(None, "-o", "--output", help="The file (default MODEL.py, .onnx, -hf/)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_LIMIT, help="Seed of the weights (onnx)."),
    weights: Path | None = typer.Option(None, "--weights", help="Weights for a spec: HF directory, .safetensors, run."),
    dim: list[str] | None = DimOption,
    batch: int = typer.Option(2, "--batch", min=1, help="Batch of the example inputs (onnx)."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Export a model: a standalone PyTorch file, or ONNX (needs: pip install onnx onnxscript)."""

    def action():
        from .export import ExportSource
        from .export.command import run_export

        if spec.is_dir():  # a trained run: its spec and its weights
            if weights is not None:
                raise UsageError(f"--weights loads into a spec, but {spec} is a run directory (it has its own weights)")
            source = ExportSource.from_run(spec)
            sizes = parse_sizes(dim)
        else:
            checked, sizes = _check_sized(spec, model, plugin, dim)
            source = ExportSource(checked, None, seed)
            if weights is not None:
                source = ExportSource(checked, _with_weights(checked, weights), None)
        run_export(source, fmt, output, sizes, batch, out)

    _run(action)


def _with_weights(checked, path: Path):
    """The spec's module with published weights loaded (`--weights`), the report printed."""
    from .weights import build_with_weights

    module, report = build_with_weights(checked, path)
    err.print(report.table())
    return module


@app.command("fmt")
def fmt_command(
    specs: list[Path] = typer.Argument(..., help="The .cram files."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 if a file is not formatted."),
) -> None:
    """Lay specs out canonically, comments kept; the meaning never changes."""

    def action():
        from .dsl.format import format_paths

        try:
            changed = format_paths(specs, check)
        except OSError as error:
            raise UsageError(f"cannot read or write {error.filename}: {error.strerror or error}") from None
        for path in changed:
            out.print(f"{'would reformat' if check else 'formatted'} {path}")
        unchanged = len(specs) - len(changed)
        out.print(f"{unchanged} file{'s' if unchanged != 1 else ''} already formatted")
        if check and changed:
            raise typer.Exit(1)

    _run(action)


# -- training (bodies in train/commands.py) ----------------------------------------------------


_training = _run  # a training body's TrainError is a CramnetError: _run prints it like any user mistake


@app.command()
def train(
    spec: Path | None = typer.Argument(None, help="The .cram file (optional with --resume)."),
    config: Path | None = typer.Option(None, "--config", help="A run.yaml holding the whole run."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override a config key: --set optimizer.lr=0.01."),
    data: str | None = typer.Option(None, "--data", help="A built-in data set or a data file."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Passes over the training split (config: epochs)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Examples per step (config: batch_size)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda."),
    precision: str | None = typer.Option(None, "--precision", help="fp32, bf16 or fp16."),
    compile_: bool | None = typer.Option(None, "--compile/--no-compile", help="Run under torch.compile."),
    seed: int | None = typer.Option(
        None, "--seed", min=0, max=SEED_LIMIT, help="Seed of the weights, data order and dropout (config: seed)."
    ),
    out_dir: Path | None = typer.Option(None, "--out", help="Run directory (default runs/<model>-<timestamp>)."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this directory exactly."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run in --out (kept until the new run finishes)."
    ),
    nproc: int | None = typer.Option(None, "--nproc", min=1, help="Processes per node (DDP through torchrun)."),
    strategy: str | None = typer.Option(None, "--strategy", help="ddp (whole model per process) or fsdp (sharded)."),
    nnodes: str | None = typer.Option(None, "--nnodes", help="torchrun: number of nodes (or MIN:MAX)."),
    node_rank: int | None = typer.Option(None, "--node-rank", help="torchrun: this node's rank."),
    rdzv_endpoint: str | None = typer.Option(None, "--rdzv-endpoint", help="torchrun: HOST:PORT to meet at."),
    rdzv_id: str | None = typer.Option(None, "--rdzv-id", help="torchrun: the job's id."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables (for scripts)."),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="Start from published weights: an HF model directory, .safetensors or a run."
    ),
    freeze: list[str] | None = typer.Option(None, "--freeze", help="Keep a node's parameters fixed (repeatable)."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Train a spec: on built-in data chosen from its inputs and outputs, or as a config says."""
    from .train.commands import TrainFlags, run_train

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
    _training(lambda: run_train(flags, out))


WeightsOption = typer.Option(
    None, "--weights", help="Published weights for a spec given instead of a run (docs/weights.md)."
)


@app.command()
def sweep(
    spec: Path = typer.Argument(..., help="The .cram file with `choice(…)` / `range(…)` lets."),
    trials: int = typer.Option(20, "--trials", min=1, help="Trials in the study, counting those already run."),
    data: str | None = typer.Option(None, "--data", help="A built-in data set or a data file."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs per trial."),
    config: Path | None = typer.Option(
        None, "--config", help="A run.yaml; values like log_range(1e-4, 1e-2) join the search."
    ),
    metric: str = typer.Option("loss", "--metric", help="The validation metric to optimise (loss, accuracy, …)."),
    direction: str | None = typer.Option(None, "--direction", help="maximize or minimize (default: from the metric)."),
    also: list[str] | None = typer.Option(None, "--also", help="Another objective, minimised: params or flops."),
    storage: str | None = typer.Option(None, "--storage", help="Optuna RDB URL (default: sqlite in --out)."),
    study: str | None = typer.Option(None, "--study", help="Study name (default: the spec's file name)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes."),
    timeout: float | None = typer.Option(None, "--timeout", help="Start no trial after this many seconds."),
    prune_after: int = typer.Option(4, "--prune-after", min=0, help="Finished trials before pruning starts."),
    seed: int | None = typer.Option(None, "--seed", min=0, max=SEED_LIMIT, help="Seed of the sampler."),
    out_dir: Path = typer.Option(Path("sweeps"), "--out", help="Sweep directory: trials/, trials.csv, best.cram."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Search a spec's space with Optuna: TPE, median pruning, a run directory per trial, best.cram."""
    from .search.commands import run_sweep
    from .search.sweep import SweepFlags

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
    _run(lambda: run_sweep(flags, out))


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory (or a spec, with --weights)."),
    data: str | None = typer.Option(None, "--data", help="Other data: a built-in set or a file."),
    weights: Path | None = WeightsOption,
) -> None:
    """A trained run's metrics on its test split (or on other data)."""
    from .train.commands import run_evaluate

    _training(lambda: run_evaluate(run_dir, data, out, weights))


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory (or a spec, with --weights)."),
    file: Path = typer.Argument(
        ..., help="Inputs: .npz, .safetensors or .csv, as for training; for a language model a .txt, a prompt a line."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Where to write (.csv or .npz)."),
    weights: Path | None = WeightsOption,
) -> None:
    """Predictions of a trained run for every example of a file, written to a file."""
    from .train.commands import run_predict

    _training(lambda: run_predict(run_dir, file, output, out, weights))


@app.command()
def generate(
    run_dir: Path = typer.Argument(..., help="A language-model run directory."),
    prompt: str = typer.Option(..., "--prompt", help="The text to continue."),
    tokens: int = typer.Option(200, "--tokens", min=1, help="How many tokens to sample."),
    temperature: float = typer.Option(0.8, "--temperature", help="Above 0; lower is more conservative."),
    top_k: int = typer.Option(40, "--top-k", min=0, help="Sample among the k likeliest tokens (0: all)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_LIMIT, help="Seed of the sampling."),
) -> None:
    """Sample a continuation of a prompt from a trained language model."""
    from .train.commands import run_generate

    _training(lambda: run_generate(run_dir, prompt, tokens, temperature, top_k, seed, out))


# -- probing a trained run (body in probe/command.py) -------------------------------------------


@app.command()
def probe(
    run_dir: Path = typer.Argument(..., help="A run directory (or a spec, with --weights)."),
    node: str = typer.Option(..., "--node", help="The node, named as `cramnet summary` lists it (or a bound name)."),
    data: str | None = typer.Option(None, "--data", help="Other data: a built-in set or a file."),
    split: str = typer.Option("test", "--split", help="train, val or test."),
    output: Path | None = typer.Option(None, "-o", "--output", help="The directory (default RUN/probes/NODE)."),
    weights: Path | None = WeightsOption,
    decode: bool = typer.Option(False, "--decode", help="Decode a grid of the node's values with the model after it."),
    symbolic: bool = typer.Option(False, "--symbolic", help="At a kan node: its edge functions as formulas."),
    clusters: int | None = typer.Option(None, "--clusters", help="At a graph node: cluster its nodes into K groups."),
) -> None:
    """The activations at one node of a trained run, from a partial model, saved and plotted."""
    from .probe.command import ProbeOptions, run_probe

    _run(lambda: run_probe(run_dir, node, data, split, output, out, ProbeOptions(decode, symbolic, clusters), weights))


# -- editors (body in lsp/) -----------------------------------------------------------------------


@app.command()
def lsp(plugin: list[str] | None = PluginOption) -> None:
    """Serve the Language Server Protocol on stdin/stdout, for editors (see docs/editors.md)."""
    try:
        from .lsp import serve
    except ImportError as error:  # pygls is an extra
        err.print(
            Text.assemble(("error:", "red"), f" the language server needs pygls: pip install 'cramnet[lsp]' ({error})")
        )
        raise typer.Exit(2) from None
    serve(plugin or [])


def run() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
