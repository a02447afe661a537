"""The bodies of `cramnet render` and `cramnet summary --tree` (cli.py wires them)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..errors import UsageError
from .dot import INSTALL_HINT
from .files import render_file
from .structure import Options
from .tree import summary_tree

RANKDIRS = ("TB", "LR")


def run_render(
    checked,
    output: Path | None,
    fmt: str | None,
    depth: int | None,
    expand: bool,
    rankdir: str,
    out: Console,
    err: Console,
) -> None:
    if rankdir.upper() not in RANKDIRS:
        raise UsageError(f"--rankdir {rankdir!r} is not one of {', '.join(RANKDIRS)}")
    output = output or Path(f"{checked.name}.{'mmd' if fmt == 'mermaid' else fmt or 'svg'}")
    try:
        written = render_file(checked, output, fmt, Options(expand, depth, rankdir.upper()))
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    if written.fallback:
        err.print(
            Text(
                f"warning: Graphviz's `dot` program is not installed, so {output} was not drawn; "
                f"wrote the DOT source to {written.path}",
                style="yellow",
            )
        )
        err.print(Text(f"  hint: {INSTALL_HINT}", style="green"))
    else:
        out.print(f"wrote {written.path}")


def run_summary_tree(checked, out: Console) -> None:
    out.print(summary_tree(checked.model), soft_wrap=False)  # wrap long rows rather than crop them
