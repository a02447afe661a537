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
