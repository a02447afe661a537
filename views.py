"""Rich renderings for the command line: the summary table and the block catalogue."""

from __future__ import annotations

import re

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .blocks.dims import Dim
from .blocks.registry import BlockSpec, Family
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


def summary_table(summary: Summary, width: int = 120) -> Group:
    """The summary as a table that fits `width` columns: long node names break after a dot, never
    inside an identifier; a "connected to" column when some row reads more than the row above it."""
    table = Table(title=f"model {summary.model}", title_justify="left", header_style="bold")
    name_width = max(12, width // 5)
    table.add_column("node", no_wrap=True, overflow="fold", max_width=name_width)
    table.add_column("block", style="cyan", no_wrap=True, overflow="fold", max_width=name_width)
    table.add_column("output shape", min_width=8)
    graph_shaped = _graph_shaped(summary)
    if graph_shaped:
        table.add_column("connected to", no_wrap=True, overflow="fold", max_width=name_width)
    widest = len(f"{summary.params:,}")
    table.add_column("parameters", justify="right", no_wrap=True, min_width=max(widest, 10))
    table.add_column("FLOPs", justify="right", min_width=6, overflow="fold")
    for name, kind in summary.inputs.items():
        table.add_row(Text(name), "input", Text(kind), *([""] if graph_shaped else []), "", "")
    previous = next(iter(summary.inputs), None)
    for row in summary.rows:  # Text cells: shapes like [seq, 16] are not rich markup
        params = f"{row.params:,}" if row.params else ""
        links = (
            []
            if not graph_shaped
            else [Text("" if list(row.inputs) == [previous] else "\n".join(_break(n, name_width) for n in row.inputs))]
        )
        table.add_row(
            Text(_break(row.node, name_width)), row.block, Text(row.shape), *links, params, Text(human(row.flops))
        )
        previous = row.node
    table.add_section()
    shown = f"{summary.layers} layers" + (f", {len(summary.rows)} rows" if len(summary.rows) != summary.layers else "")
    table.add_row(
        "total", shown, "", *([""] if graph_shaped else []), f"{summary.params:,}", Text(human(summary.flops))
    )
    memory = summary.memory
    frozen = summary.frozen_params
    counted = f": {summary.params - frozen:,} trainable, {frozen:,} frozen (freeze = true)" if frozen else " trainable"
    lines = [Text.assemble(("parameters ", "bold"), f"{summary.params:,}{counted}")]
    if summary.active_params is not None:
        lines.append(
            Text.assemble(
                ("active parameters ", "bold"),
                f"{summary.active_params:,} per token or example "
                "(each mixture of experts: its router and top_k experts)",
            )
        )
    lines += [
        Text.assemble(
            ("FLOPs ", "bold"),
            f"{human(summary.flops)} per forward pass over the batch of {summary.batch}, rows too "
            "(a multiply-add counts 2 FLOPs)",
        ),
        Text.assemble(
            ("memory ", "bold"),
            f"{human_bytes(memory['total'])} for a training step: weights "
            f"{human_bytes(memory['weights'])}, gradients {human_bytes(memory['gradients'])}, activations "
            f"{human_bytes(memory['activations'])} (fp32; activations count each node's output only, kept for "
            "the backward pass; optimizer state not included)",
        ),
    ]
    if summary.unresolved:
        sizes = " ".join(f"--dim {name}=N" for name in summary.unresolved)
        lines.append(
            Text(f"run-time sizes {', '.join(summary.unresolved)} are symbolic; give them with {sizes}", style="yellow")
        )
    return Group(table, *lines)


def _graph_shaped(summary: Summary) -> bool:
    """True when some row reads anything but the row above it (a residual, a merge, a second input)."""
    previous = next(iter(summary.inputs), None)
    for row in summary.rows:
        if list(row.inputs) != [previous]:
            return True
        previous = row.node
    return False


def _break(name: str, width: int) -> str:
    """`pre_ln_1.attention_1` on lines of at most `width` characters, broken after dots."""
    if len(name) <= width:
        return name
    lines, line = [], ""
    for part in name.split("."):
        piece = part if not line else "." + part
        if line and len(line) + len(piece) > width:
            lines.append(line + ".")
            line = part
        else:
            line += piece
    return "\n".join([*lines, line])


# A full stop that ends an abbreviation, not a sentence: "Gu et al. 2023", "e.g. conv2d".
_NOT_AN_END = re.compile(r"(\bet al|\be\.g|\bi\.e|\bcf|\bvs|\bapprox|\bFig|\bEq)$")


def first_sentence(doc: str) -> str:
    """The doc's first sentence, across line breaks (docstrings wrap mid-sentence) and past the full
    stops of abbreviations."""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    for match in re.finditer(r"\. ", paragraph):
        if not _NOT_AN_END.search(paragraph[: match.start()]):
            return paragraph[: match.start() + 1]
    return paragraph


def catalogue_table(
    registry: dict[str, BlockSpec], families: dict[str, Family] | None = None, std: dict | None = None
) -> Group:
    """The families with their docs, every primitive block, and the standard library's blocks."""
    parts = []
    if families:
        kinds = Table(title="families", title_justify="left", header_style="bold")
        kinds.add_column("family", style="magenta")
        kinds.add_column("")
        kinds.add_column("what it holds")
        kinds.add_column("papers", style="dim")
        for family in sorted(families.values(), key=lambda f: f.name.lower()):
            kinds.add_row(family.name, Text("  ", style=f"on {family.colour}"), Text(family.doc), Text(family.paper))
        parts.append(kinds)
    table = Table(title="cramnet blocks", title_justify="left", header_style="bold")
    table.add_column("family", style="magenta")
    table.add_column("signature", style="cyan")
    table.add_column("what it does")
    for spec in sorted(registry.values(), key=lambda s: (s.family.lower(), s.name)):
        table.add_row(spec.family, Text(spec.signature()), Text(first_sentence(spec.doc)))
    parts.append(table)
    if std:
        library = Table(title="standard library (written in the language)", title_justify="left", header_style="bold")
        library.add_column("use", style="magenta")
        library.add_column("signature", style="cyan")
        library.add_column("what it does")
        for block in std.values():
            library.add_row(Text(block.use), Text(block.signature), Text(first_sentence(block.doc)))
        parts.append(library)
    return Group(*parts)


def std_block_detail(block) -> Group:
    """One standard-library block: its signature, the comment above it, the `use` it needs, its body."""
    return Group(
        Text(block.signature, style="bold cyan"),
        Text(f"standard library — bring it in with: {block.use}"),
        Text(""),
        Text(block.doc),
        Text(""),
        Text("definition", style="bold"),
        Text(block.source),
    )


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
