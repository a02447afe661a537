"""Rich renderings for the command line: the summary table and the block catalogue."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .blocks.dims import Dim
from .blocks.registry import BlockSpec
from .compiler.summary import Summary


def human(value: Dim, unit: str = "") -> str:
    """12,345,678 -> '12.3M'; symbolic values print as formulas."""
    if not isinstance(value, int):
        return str(value)
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}{unit}"
    return f"{value}{unit and ' ' + unit}"


def human_bytes(value: Dim) -> str:
    if not isinstance(value, int):
        return f"{value} bytes"
    for size, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= size:
            return f"{value / size:.1f} {suffix}"
    return f"{value} B"


def summary_table(summary: Summary) -> Group:
    table = Table(title=f"model {summary.model}", title_justify="left", header_style="bold")
    table.add_column("node", overflow="fold")
    table.add_column("block", style="cyan", overflow="fold")
    table.add_column("output shape")
    table.add_column("parameters", justify="right")
    table.add_column("FLOPs", justify="right")
    for name, kind in summary.inputs.items():
        table.add_row(Text(name), "input", Text(kind), "", "")
    for row in summary.rows:  # Text cells: shapes like [seq, 16] are not rich markup
        params = f"{row.params:,}" if row.params else ""
        table.add_row(Text(row.node), row.block, Text(row.shape), params, Text(human(row.flops)))
    table.add_section()
    table.add_row("total", f"{summary.layers} layers", "", f"{summary.params:,}", Text(human(summary.flops)))
    memory = summary.memory
    lines = [
        Text.assemble(("parameters ", "bold"), f"{summary.params:,} trainable"),
        Text.assemble(("FLOPs ", "bold"), f"{human(summary.flops)} per forward pass (batch {summary.batch})"),
        Text.assemble(
            ("memory ", "bold"),
            f"{human_bytes(memory['total'])} for a training step: weights "
            f"{human_bytes(memory['weights'])}, gradients {human_bytes(memory['gradients'])}, activations "
            f"{human_bytes(memory['activations'])} (fp32, optimizer state not included)",
        ),
    ]
    if summary.unresolved:
        sizes = " ".join(f"--dim {name}=N" for name in summary.unresolved)
        lines.append(
            Text(f"run-time sizes {', '.join(summary.unresolved)} are symbolic; give them with {sizes}", style="yellow")
        )
    return Group(table, *lines)


def first_sentence(doc: str) -> str:
    """The doc's first sentence, across line breaks (docstrings wrap mid-sentence)."""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


def catalogue_table(registry: dict[str, BlockSpec]) -> Table:
    table = Table(title="cramnet blocks", title_justify="left", header_style="bold")
    table.add_column("family", style="magenta")
    table.add_column("signature", style="cyan")
    table.add_column("what it does")
    for spec in sorted(registry.values(), key=lambda s: (s.family, s.name)):
        table.add_row(spec.family, Text(spec.signature()), Text(first_sentence(spec.doc)))
    return table


def block_detail(spec: BlockSpec) -> Group:
    table = Table(header_style="bold", show_edge=False)
    table.add_column("argument", style="cyan")
    table.add_column("type")
    table.add_column("default")
    table.add_column("meaning")
    for arg in spec.args:
        kind = arg.kind + (f" ({' | '.join(arg.choices)})" if arg.choices else "")
        default = (
            "required"
            if arg.required
            else (
                "none"
                if arg.default is None
                else str(arg.default).lower()
                if isinstance(arg.default, bool)
                else str(arg.default)
            )
        )
        table.add_row(arg.name, Text(kind), Text(default), Text(arg.doc))
    parts = [
        Text(spec.signature(), style="bold cyan"),
        Text(f"family: {spec.family}   from: {spec.origin}"),
        Text(""),
        Text(spec.doc),
        Text(""),
    ]
    if spec.merge:
        parts.append(Text("a merge: its positional arguments are the bound values to combine"))
    if spec.args:
        parts.append(table)
    parts += [Text(""), Text("example", style="bold"), Text(spec.example_spec().rstrip())]
    return Group(*parts)


def plan_table(plan) -> Table:
    """Per-device training memory of a `train.memory_plan.MemoryPlan`."""
    mode = "sharded over" if plan.strategy == "fsdp" else "replicated on"
    table = Table(
        title=f"memory per device: {plan.strategy}, {mode} {plan.processes} process(es), {plan.precision}, "
        f"batch {plan.batch_per_device} per device",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("part")
    table.add_column("bytes", justify="right")
    for name, value in plan.rows.items():
        table.add_row(name, "? (give --dim sizes)" if value is None else human_bytes(value))
    table.add_section()
    table.add_row("total", human_bytes(plan.total) + (" + activations" if None in plan.rows.values() else ""))
    if plan.host:
        table.add_row("on the CPU (offload)", human_bytes(plan.host))
    return table
