"""The bodies of `cramnet render` and `cramnet summary --tree` (cli/ wires them)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..errors import UsageError
from .dot import INSTALL_HINT
from .files import render_file
from .mermaid import to_mermaid
from .structure import Options, build_diagram, readable_depth
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
    options = Options(expand, depth, rankdir.upper())
    if depth is None and not expand:  # a deep net's default picture: collapse block instances until it fits
        options = Options(expand, readable_depth(checked.model, options), rankdir.upper())
    if output is None and fmt == "mermaid":  # text: to stdout, ready to pipe or paste
        out.print(
            to_mermaid(build_diagram(checked.model, options)), markup=False, highlight=False, soft_wrap=True, end=""
        )
        return
    output = output or Path(f"{checked.name}.{fmt or 'svg'}")
    try:
        written = render_file(checked, output, fmt, options)
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    if written.fallback:  # the file asked for is not there: say so, and fail
        raise UsageError(
            f"Graphviz's `dot` program is not installed, so {output} was not drawn; "
            f"wrote the DOT source to {written.path}",
            INSTALL_HINT,
        )
    out.print(f"wrote {written.path}")


def run_summary_tree(checked, out: Console) -> None:
    out.print(summary_tree(checked.model), soft_wrap=False)  # wrap long rows rather than crop them
