"""`--format python`: the generated module as one standalone file that imports only torch."""

from __future__ import annotations

from pathlib import Path

from .source import ExportSource


def export_python(source: ExportSource, output: str | Path) -> Path:
    """Write the same source as `cramnet compile -o`: `Class()` in it builds the spec's model.
    (Weights of a trained run will travel beside it, as a safetensors file.)"""
    output = Path(output)
    output.write_text(source.checked.source(standalone=True))
    return output
