"""Commands that read a spec and allocate nothing, or one trial: check, summary, compile, blocks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from ..errors import UsageError
from .messages import out, print_spec_errors, run_command
from .options import (
    BatchOption,
    DimOption,
    MaxNodesOption,
    MaxParamsOption,
    ModelOption,
    PluginOption,
    checked_spec,
    checked_with_sizes,
    device_option,
    limits,
    load_plugin_modules,
    precision_option,
    strategy_option,
)


def check(
    spec: Path = typer.Argument(..., metavar="SPEC", help="The .cram file."),
    model: str | None = ModelOption,
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
    max_params: int | None = MaxParamsOption,
) -> None:
    """Check a spec: exit 0 with a verdict, or exit 1 listing every error with its location."""

    def action():
        from ..search.check import spec_space

        space = spec_space(spec)
        if space is not None:  # a spec with `choice(…)` lets: check every point (search/check.py)
            from ..search.check import run_check_space

            load_plugin_modules(plugin)  # a plugin that fails is one E220, not one per point
            return run_check_space(space, model, plugin or [], out, print_spec_errors, **limits(max_nodes, max_params))
        checked = checked_spec(spec, model, plugin, max_nodes, max_params)
        summary = checked.summary()
        out.print(
            Text.assemble(
                ("ok", "bold green"),
                f": {spec} — model '{checked.name}', {summary.layers} layer{'s' if summary.layers != 1 else ''}, "
                f"{summary.params:,} parameters",
            )
        )

    run_command(action)


def summary(
    spec: Path = typer.Argument(..., metavar="SPEC", help="The .cram file."),
    model: str | None = ModelOption,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    tree: bool = typer.Option(False, "--tree", help="Print the blocks as a tree instead of a table."),
    dim: list[str] | None = DimOption,
    batch: int = BatchOption,
    depth: int | None = typer.Option(
        None,
        "--depth",
        metavar="N",
        min=1,
        help="One row per block instance or repeat nested deeper (1: the top level).",
    ),
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
    max_params: int | None = MaxParamsOption,
    nproc: int | None = typer.Option(
        None, "--nproc", metavar="N", min=1, help="Plan training memory per device for N processes."
    ),
    strategy: str | None = strategy_option("For the memory plan: ddp (a whole model per process) or fsdp (sharded)."),
    precision: str = precision_option("fp32", "For the memory plan: fp32, bf16 or fp16."),
    checkpoint_layers: bool = typer.Option(
        False,
        "--checkpoint-layers",
        help="For the memory plan: each repeated layer recomputed in the backward pass "
        "(train's --set distributed.checkpoint_layers=true).",
    ),
) -> None:
    """Layers, shapes, parameters, FLOPs and memory, counted without allocating a weight."""

    def action():
        if tree and as_json:
            raise UsageError("--tree and --json cannot be combined")
        checked, sizes = checked_with_sizes(spec, model, plugin, dim, max_nodes, max_params)
        if tree:
            from ..render.command import run_summary_tree

            return run_summary_tree(checked, out)
        result = checked.summary(sizes, batch, depth)
        plan = None
        if nproc is not None or strategy is not None or checkpoint_layers:
            from ..train.memory_plan import plan_memory

            plan = plan_memory(
                checked,
                processes=nproc or 1,
                strategy=strategy or "ddp",
                precision=precision,
                batch=batch,
                sizes=sizes,
                checkpoint_layers=checkpoint_layers,
            )
        if as_json:
            out.print_json(json.dumps(result.to_json() | ({"plan": plan.to_json()} if plan else {})))
        else:
            from ..views import plan_table, summary_table

            out.print(summary_table(result, out.width))
            if plan is not None:
                out.print(plan_table(plan))

    run_command(action)


def compile_command(
    spec: Path = typer.Argument(..., metavar="SPEC", help="The .cram file."),
    model: str | None = ModelOption,
    device: str = device_option("auto"),
    output: Path | None = typer.Option(None, "-o", "--output", metavar="FILE", help="Write the generated module here."),
    dim: list[str] | None = DimOption,
    batch: int = typer.Option(2, "--batch", metavar="N", min=1, help="Batch of the test pass."),
    plugin: list[str] | None = PluginOption,
    max_nodes: int | None = MaxNodesOption,
    max_params: int | None = MaxParamsOption,
    skip_memory_check: bool = typer.Option(
        False, "--skip-memory-check", help="Build even when the estimate says the model will not fit."
    ),
) -> None:
    """Build the module, run one forward and backward pass on random inputs, report time and memory."""

    def action():
        from ..compiler.memory import check_fits, estimate
        from ..compiler.trial import pick_device, trial_run

        checked, sizes = checked_with_sizes(spec, model, plugin, dim, max_nodes, max_params)
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

    run_command(action)


def blocks(
    name: str | None = typer.Argument(None, metavar="NAME", help="A block, or a family, to show in full."),
    plugin: list[str] | None = PluginOption,
) -> None:
    """The block catalogue: signatures, defaults, shapes and docs."""

    def action():
        from ..blocks import all_blocks
        from ..blocks.registry import all_families
        from ..compiler.block_hints import unknown_block_hint
        from ..compiler.stdlib import std_blocks
        from ..views import block_detail, catalogue_table, std_block_detail

        load_plugin_modules(plugin)
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

    run_command(action)
