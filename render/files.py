"""Writing a diagram to a file: the format from `--format` or the file's suffix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .dot import GraphvizMissing, has_dot, render_dot, to_dot
from .mermaid import to_mermaid
from .structure import Options, build_diagram

FORMATS = ("svg", "png", "pdf", "dot", "mermaid")
SUFFIXES = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "mermaid",
}


@dataclass
class Written:
    path: Path
    format: str
    fallback: bool = False  # `dot` was missing: the DOT source was written instead


def pick_format(output: Path, fmt: str | None) -> str:
    """The format asked for, else the one the suffix names; UsageError when neither says, or when the
    two disagree (`-o out.svg --format png` would put PNG bytes in a file named .svg)."""
    found = SUFFIXES.get(output.suffix.lower())
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
        if found is not None and found != fmt:
            raise UsageError(
                f"--format {fmt} does not match '{output.name}', whose suffix means {found}: "
                f"name the file {output.with_suffix('.mmd' if fmt == 'mermaid' else '.' + fmt).name} or drop --format"
            )
        return fmt
    if found is None:
        raise UsageError(f"cannot tell the format from '{output.name}': end it in .svg, .png, .pdf, .dot or .mmd")
    return found


def render_file(checked, output: str | Path, fmt: str | None = None, options: Options = Options()) -> Written:
    """Draw a checked model into `output`. Without Graphviz's `dot`, an image format falls back to
    the DOT source beside it (`model.svg` -> `model.dot`), and `Written.fallback` says so."""
    output = Path(output)
    fmt = pick_format(output, fmt)
    diagram = build_diagram(checked.model, options)
    if fmt == "mermaid":
        text = to_mermaid(diagram)
        output.write_text(f"```mermaid\n{text}```\n" if output.suffix.lower() == ".md" else text)
        return Written(output, fmt)
    source = to_dot(diagram)
    if fmt == "dot":
        output.write_text(source)
        return Written(output, fmt)
    if not has_dot():
        fallback = output.with_suffix(".dot")
        fallback.write_text(source)
        return Written(fallback, "dot", fallback=True)
    output.write_bytes(render_dot(source, fmt))
    return Written(output, fmt)


def diagram_svg(checked, options: Options = Options()) -> str | None:
    """The diagram as SVG text (for notebooks), or None without Graphviz's `dot`."""
    try:
        return render_dot(to_dot(build_diagram(checked.model, options)), "svg").decode()
    except GraphvizMissing:
        return None
