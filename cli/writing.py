"""Commands that write a file from a spec: its diagram (render), a standalone module or another
format (export), and the spec itself laid out canonically (fmt). Bodies in render/, export/ and
dsl/format.py."""

from __future__ import annotations

from pathlib import Path

import typer

from ..dsl.errors import SpecErrors
from ..errors import UsageError
from .messages import err, out, print_mistake, print_spec_errors, run_command
from .options import (
    EXPORT_FORMATS,
    RENDER_FORMATS,
    SEED_LIMIT,
    DimOption,
    MaxNodesOption,
    ModelOption,
    PluginOption,
    checked_spec,
    checked_with_sizes,
    load_plugin_modules,
    parse_sizes,
)
from .usage import choice


def render(
    spec: Path = typer.Argument(..., metavar="SPEC", help="The .cram file."),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        metavar="FILE",
        help="The file: .svg, .png, .pdf, .dot or .mmd (default MODEL.svg; mermaid: stdout).",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        metavar="FORMAT",
        callback=choice("--format", RENDER_FORMATS),
        help="svg, png, pdf, dot or mermaid (default: the suffix; must agree with it).",
    ),
    depth: int | None = typer.Option(
        None,
        "--depth",
        metavar="N",
        min=0,
        help="Open user blocks this deep; deeper: one box (default: as deep as fits 60 boxes, 36 in a chain; 99: all).",
    ),
    expand: bool = typer.Option(False, "--expand", help="Draw every copy of a repeat, not the first marked × N."),
    rankdir: str = typer.Option("TB", "--rankdir", metavar="TB|LR", help="TB (top to bottom) or LR (left to right)."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
) -> None:
    """Draw the model with Graphviz (or as Mermaid): a box per stage, clusters per block."""
    from ..render.command import run_render

    run_command(
        lambda: run_render(checked_spec(spec, model, plugin, max_nodes), output, fmt, depth, expand, rankdir, out, err)
    )


def export(
    spec: Path = typer.Argument(..., metavar="SPEC|RUN", help="The .cram file, or a run directory of `cramnet train`."),
    fmt: str = typer.Option(
        "python",
        "--format",
        metavar="FORMAT",
        callback=choice("--format", EXPORT_FORMATS),
        help="python (the module file of compile -o), onnx or hf.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", metavar="PATH", help="The file (default MODEL.py, .onnx, -hf/)."
    ),
    seed: int = typer.Option(0, "--seed", metavar="N", min=0, max=SEED_LIMIT, help="Seed of the weights (onnx)."),
    weights: Path | None = typer.Option(
        None, "--weights", metavar="PATH", help="Weights for a spec: HF directory, .safetensors, run."
    ),
    dim: list[str] | None = DimOption,
    batch: int = typer.Option(2, "--batch", metavar="N", min=1, help="Batch of the example inputs (onnx)."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
) -> None:
    """Export a model: a standalone PyTorch file, or ONNX (needs: pip install onnx onnxscript)."""

    def action():
        from ..export import ExportSource
        from ..export.command import run_export

        if spec.is_dir():  # a trained run: its spec and its weights
            if weights is not None:
                raise UsageError(f"--weights loads into a spec, but {spec} is a run directory (it has its own weights)")
            load_plugin_modules(plugin)  # before the run's spec is read
            source = ExportSource.from_run(spec)
            sizes = parse_sizes(dim)
        else:
            checked, sizes = checked_with_sizes(spec, model, plugin, dim)
            source = ExportSource(checked, None, seed)
            if weights is not None:
                source = ExportSource(checked, _with_weights(checked, weights), None)
        run_export(source, fmt, output, sizes, batch, out)

    run_command(action)


def _with_weights(checked, path: Path):
    """The spec's module with published weights loaded (`--weights`), the report printed."""
    from ..weights import build_with_weights

    module, report = build_with_weights(checked, path)
    err.print(report.table())
    return module


def fmt_command(
    specs: list[Path] = typer.Argument(..., metavar="SPEC", help="The .cram files."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 if a file is not formatted."),
    plugin: list[str] | None = PluginOption,
) -> None:
    """Lay specs out canonically, comments kept; the meaning never changes."""

    def action():
        load_plugin_modules(plugin)  # the layout needs no block; a plugin that fails to load is still told

        failures = []  # a file that cannot be formatted is told after the others are done, not instead of them
        changed = [path for spec in specs for path in _format_one(spec, check, failures)]
        for line in fmt_report(specs, changed, check, len(failures)):
            out.print(line)
        for failure in failures:
            if isinstance(failure, SpecErrors):
                print_spec_errors(failure)
            else:
                print_mistake(str(failure), failure.hint)
        if failures or (check and changed):
            raise typer.Exit(1)

    run_command(action)


def _format_one(spec: Path, check: bool, failures: list) -> list[Path]:
    """format_paths on one file: what changed, or nothing with its failure added to `failures`."""
    from ..dsl.format import format_paths

    try:
        return format_paths([spec], check)
    except SpecErrors as failure:
        failures.append(failure)
    except OSError as error:
        failures.append(UsageError(f"cannot read or write {error.filename}: {error.strerror or error}"))
    return []


def fmt_report(specs: list[Path], changed: list[Path], check: bool, failed: int = 0) -> list[str]:
    """What fmt did: a line per file it changed (or would), then how many it left, counted only when
    there are several files and the count says something a line did not."""
    lines = [f"{'would reformat' if check else 'formatted'} {path}" for path in changed]
    unchanged = len(specs) - len(changed) - failed
    if len(specs) == 1:
        return lines or ([f"{specs[0]} already formatted"] if unchanged else [])
    counts = []
    if changed and (unchanged or failed):
        counts.append(f"{_files(len(changed))} {'would be reformatted' if check else 'formatted'}")
    if unchanged:
        counts.append(f"{_files(unchanged)} already formatted")
    if failed and counts:
        counts.append(f"{_files(failed)} could not be formatted")
    return lines + ([", ".join(counts)] if counts else [])


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"
