"""The body of `cramnet probe` (cli/ wires it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

from .run import probe_run


@dataclass
class ProbeOptions:
    """What to do beyond the values and their plots: `--decode`, `--symbolic`, `--clusters K`."""

    decode: bool = False
    symbolic: bool = False
    clusters: int | None = None


def run_probe(
    run: Path,
    node: str,
    data: str | None,
    split: str,
    output: Path | None,
    out: Console,
    options=ProbeOptions(),
    weights: Path | None = None,
    device: str = "cpu",
) -> None:
    decode, symbolic, clusters = options.decode, options.symbolic, options.clusters
    result = probe_run(run, node, data, split, output, decode, symbolic, clusters, weights, device, out)
    shape = "×".join(str(d) for d in result.shape)
    labels = "with labels" if result.labelled else "no labels"
    out.print(
        Text.assemble(
            ("probed", "bold green"), f" {result.node} ({result.block}) on the {result.split} split: {shape}, {labels}"
        )
    )
    out.print(f"wrote {result.out}{os.sep}")
    width = max(len(path.name) for path in result.files)
    for path, what in result.files.items():
        out.print(Text.assemble("  ", (f"{path.name:<{width}}", "cyan"), f"  {what}"))
    for note in result.notes:
        out.print(Text(f"  note: {note}", style="yellow"))
