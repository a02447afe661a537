"""The options several commands share, and the spec checking behind them: a spec checked with the
limits and run-time sizes its flags give."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import UsageError
from .usage import choice

# as train/config_schema.py's (importing it would load torch before --help): seeds past it overflow the generators
SEED_LIMIT = 2**32 - 1
# the choices of train/config_schema.py's keys of these names (tests/test_cli_usage.py holds them equal)
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")
STRATEGIES = ("ddp", "fsdp")
# likewise render/files.py's and export/__init__.py's FORMATS (both load torch)
RENDER_FORMATS = ("svg", "png", "pdf", "dot", "mermaid")
EXPORT_FORMATS = ("python", "onnx", "hf")

ModelOption = typer.Option(None, "--model", "-m", metavar="NAME", help="Which model, where the file declares several.")
PluginOption = typer.Option(
    None, "--plugin", metavar="MODULE", help="Import this Python module for its blocks (repeatable)."
)
DimOption = typer.Option(
    None, "--dim", metavar="NAME=SIZE", help="Size a run-time dimension: --dim seq=1024 (repeatable)."
)
BatchOption = typer.Option(1, "--batch", metavar="N", min=1, help="Batch size for FLOPs and memory figures.")
MaxNodesOption = typer.Option(
    None, "--max-nodes", metavar="N", min=1, help="Refuse a model that expands to more nodes (default 100,000)."
)
MaxParamsOption = typer.Option(
    None, "--max-params", metavar="N", min=1, help="Refuse a model with more parameters (default 10^13)."
)


def device_option(default: str | None):
    """--device, one check and one message for every command that runs a model."""
    what = "auto (a CUDA GPU when there is one), cpu or cuda"
    return typer.Option(
        default, "--device", metavar="|".join(DEVICES), callback=choice("--device", DEVICES), help=f"{what}."
    )


def precision_option(default: str | None, what: str):
    return typer.Option(
        default, "--precision", metavar="|".join(PRECISIONS), callback=choice("--precision", PRECISIONS), help=what
    )


def strategy_option(what: str):
    return typer.Option(
        None, "--strategy", metavar="|".join(STRATEGIES), callback=choice("--strategy", STRATEGIES), help=what
    )


WeightsOption = typer.Option(
    None, "--weights", metavar="PATH", help="Published weights for a spec given instead of a run (docs/weights.md)."
)


def load_plugin_modules(plugins: list[str] | None) -> None:
    """--plugin for a command that checks no spec of its own before it needs the blocks (a run's spec,
    a catalogue): the modules imported first, a failure told as `check` tells it (E220)."""
    from ..blocks import load_plugins
    from ..dsl.errors import SpecError, SpecErrors
    from ..errors import PluginError

    try:
        load_plugins(plugins or [])
    except PluginError as error:
        raise SpecErrors([SpecError(code="E220", message=str(error), hint=error.hint)]) from None


def parse_sizes(items: list[str] | None) -> dict[str, int]:
    from ..compiler.arguments import INT_LIMIT

    sizes = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        digits = value.strip().removeprefix("-")  # one sign: int() refuses "--5"
        if not sep or not name.strip().isidentifier() or not (digits.isascii() and digits.isdigit()):  # not "²"
            raise UsageError(f"--dim {item!r} is not NAME=INTEGER", "write --dim seq=1024")
        # int() of over 4,300 digits is a ValueError: a number that long is out of range whatever it is
        size = int(value) if len(digits.lstrip("0")) <= 18 else (0 if value.strip().startswith("-") else INT_LIMIT + 1)
        shown = item if len(item) <= 40 else item[:40] + "…"
        if size < 1:
            raise UsageError(f"--dim {shown!r}: a size must be at least 1")
        if size > INT_LIMIT:
            raise UsageError(f"--dim {shown!r}: a size must be at most {INT_LIMIT:,}")
        sizes[name.strip()] = size
    return sizes


def limits(max_nodes: int | None, max_params: int | None) -> dict:
    """check_spec's size limits that a flag changed (the rest keep their defaults)."""
    return {k: v for k, v in {"max_nodes": max_nodes, "max_params": max_params}.items() if v is not None}


def checked_spec(spec: Path, model: str | None, plugins: list[str] | None, max_nodes=None, max_params=None):
    from ..compiler import check_spec

    return check_spec(spec, model, plugins or [], **limits(max_nodes, max_params))


def checked_with_sizes(
    spec: Path, model: str | None, plugins: list[str] | None, dims: list[str] | None, max_nodes=None, max_params=None
):
    """The checked spec and the run-time sizes given with --dim, each size checked against the model."""
    sizes = parse_sizes(dims)
    checked = checked_spec(spec, model, plugins, max_nodes, max_params)
    _check_sizes(checked, sizes)
    return checked, sizes


def _check_sizes(checked, sizes: dict[str, int]) -> None:
    from ..compiler.summary import model_symbols
    from ..dsl.errors import did_you_mean

    known = model_symbols(checked.model)
    for name in sizes:
        if name not in known:
            hint = did_you_mean(name, known) or (
                f"its run-time sizes are: {', '.join(sorted(known))}" if known else "this model has no run-time sizes"
            )
            raise UsageError(f"--dim {name}: model '{checked.name}' has no size named '{name}'", hint)
    checked.check_sizes(sizes)  # a size a block cannot take (beyond a positional table) is located now
