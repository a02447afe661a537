"""The body of `cramnet export` (cli.py wires it)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..errors import UsageError
from . import FORMATS, ExportSource, OnnxExportFailed, export_onnx, export_python


def run_export(
    source: ExportSource, fmt: str, output: Path | None, sizes: dict[str, int], batch: int, out: Console
) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    output = output or Path(f"{source.name}.{'py' if fmt == 'python' else 'onnx'}")
    try:
        if fmt == "python":
            export_python(source, output)
        else:
            export_onnx(source, output, sizes, batch)
    except OnnxExportFailed as error:
        routed = sorted({a["block"] for a in source.checked.graph.nodes.values() if a["spec"] and a["spec"].bodies})
        hint = f"{', '.join(routed)} routes by data, which torch.onnx cannot trace yet; --format python works"
        raise OnnxExportFailed(str(error), hint if routed else None) from None
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    out.print(f"wrote {output}")
    if fmt == "python" and source.trained:  # the weights went beside the module, and load() reads them
        out.print(f"wrote {output.with_suffix('.safetensors')} (the trained weights)")
        out.print(
            f"use it without cramnet: `from {output.stem} import load; model = load()` (needs torch and safetensors)",
            markup=False,
        )
