"""Commands on a trained run (or a spec given with --weights): evaluate, predict, generate, probe.
Bodies in train/commands.py and probe/command.py."""

from __future__ import annotations

from pathlib import Path

import typer

from .messages import err, out, print_mistake, run_command
from .options import SEED_LIMIT, PluginOption, WeightsOption, device_option, load_plugin_modules
from .usage import USAGE

RunDevice = device_option("auto")


def run_with_plugins(action, plugins: list[str] | None, spec: Path | None = None, weights: Path | None = None) -> None:
    """A run's spec is checked from the run directory: --plugin modules are imported before it is read.
    A spec given with `weights` has what the checkpoint fills in it told first, as train and export tell it."""

    def body():
        load_plugin_modules(plugins)
        if weights is not None and spec is not None and not spec.is_dir():  # a run directory is refused later
            _print_weights_report(spec, weights)
        action()

    run_command(body)


def _print_weights_report(spec: Path, weights: Path) -> None:
    """The table of what is loaded, new and unused (shapes only: the command loads the tensors), on
    stderr, where it stays out of a continuation or a table printed on stdout."""
    from ..compiler.api import check_spec
    from ..weights import plan_weights, report_of

    err.print(report_of(plan_weights(check_spec(spec), weights), weights).table())


def evaluate(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run directory (or a spec, with --weights)."),
    data: str | None = typer.Option(None, "--data", metavar="NAME|FILE", help="Other data: a built-in set or a file."),
    weights: Path | None = WeightsOption,
    device: str = RunDevice,
    plugin: list[str] | None = PluginOption,
) -> None:
    """A trained run's metrics on its test split (or on other data)."""
    from ..train.commands import run_evaluate

    run_with_plugins(lambda: run_evaluate(run_dir, data, out, weights, device), plugin, run_dir, weights)


def predict(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run directory (or a spec, with --weights)."),
    file: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="Inputs: .npz, .safetensors or .csv, as for training; for a language model a .txt, a prompt a line.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", metavar="FILE", help="Where to write (.csv or .npz; default: FILE.predictions.csv)."
    ),
    weights: Path | None = WeightsOption,
    device: str = RunDevice,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Predictions of a trained run for every example of a file, written to a file."""
    from ..train.commands import run_predict

    run_with_plugins(lambda: run_predict(run_dir, file, output, out, weights, device), plugin, run_dir, weights)


def generate(
    run_dir: Path = typer.Argument(
        ..., metavar="RUN", help="A language-model run directory (or a spec, with --weights)."
    ),
    prompt: str | None = typer.Option(None, "--prompt", metavar="TEXT", help="The text to continue."),
    prompt_ids: str | None = typer.Option(
        None, "--prompt-ids", metavar="IDS", help="The prompt as token ids ('464 2068'): no tokenizer needed."
    ),
    weights: Path | None = WeightsOption,
    tokens: int = typer.Option(200, "--tokens", metavar="N", min=1, help="How many tokens to add (fewer at a stop)."),
    temperature: float = typer.Option(0.8, "--temperature", metavar="T", help="Above 0; lower is more conservative."),
    top_k: int = typer.Option(40, "--top-k", metavar="K", min=0, help="Sample among the k likeliest tokens (0: all)."),
    greedy: bool = typer.Option(False, "--greedy", help="Take the likeliest token each time (no sampling)."),
    seed: int = typer.Option(0, "--seed", metavar="N", min=0, max=SEED_LIMIT, help="Seed of the sampling."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Recompute the whole window for each token (the same tokens, slower)."
    ),
    device: str = RunDevice,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Continue a prompt with a trained language model, or a spec with published weights."""
    from ..train.commands import run_generate
    from ..train.generation import Sampling

    if (prompt is None) == (prompt_ids is None):  # a command-line mistake: exit 2, as typer's own are told
        both = prompt is not None
        print_mistake(
            "cramnet generate takes --prompt TEXT or --prompt-ids IDS, not both"
            if both
            else "cramnet generate needs --prompt TEXT (or --prompt-ids IDS)",
            "--prompt takes TEXT, the text to continue; --prompt-ids takes IDS, token ids such as '464 2068'",
        )
        raise typer.Exit(USAGE)
    sampling = Sampling(tokens, temperature, top_k or None, seed, greedy, cache=not no_cache)
    run_with_plugins(
        lambda: run_generate(run_dir, prompt, prompt_ids, sampling, weights, out, device), plugin, run_dir, weights
    )


def probe(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run directory (or a spec, with --weights)."),
    node: str = typer.Option(
        ..., "--node", metavar="NODE", help="The node, named as `cramnet summary` lists it (or a bound name)."
    ),
    data: str | None = typer.Option(None, "--data", metavar="NAME|FILE", help="Other data: a built-in set or a file."),
    split: str = typer.Option("test", "--split", metavar="SPLIT", help="train, val or test."),
    output: Path | None = typer.Option(
        None, "-o", "--output", metavar="DIR", help="The directory (default RUN/probes/NODE)."
    ),
    weights: Path | None = WeightsOption,
    decode: bool = typer.Option(False, "--decode", help="Decode a grid of the node's values with the model after it."),
    symbolic: bool = typer.Option(False, "--symbolic", help="At a kan node: its edge functions as formulas."),
    clusters: int | None = typer.Option(
        None, "--clusters", metavar="K", help="At a graph node: cluster its nodes into K groups."
    ),
    device: str = RunDevice,
    plugin: list[str] | None = PluginOption,
) -> None:
    """The activations at one node of a trained run, from a partial model, saved and plotted."""
    from ..probe.command import ProbeOptions, run_probe

    options = ProbeOptions(decode, symbolic, clusters)
    run_with_plugins(
        lambda: run_probe(run_dir, node, data, split, output, out, options, weights, device), plugin, run_dir, weights
    )
