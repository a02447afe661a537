"""The body of `cramnet export` (cli.py wires it)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..compiler.standalone import NotStandalone
from . import FORMATS, ExportSource, OnnxExportFailed, OnnxMissing, export_onnx, export_python


def run_export(
    source: ExportSource, fmt: str, output: Path | None, sizes: dict[str, int], batch: int, out: Console
) -> None:
    from ..cli import UserError

    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    output = output or Path(f"{source.name}.{'py' if fmt == 'python' else 'onnx'}")
    try:
        if fmt == "python":
            export_python(source, output)
        else:
            export_onnx(source, output, sizes, batch)
    except OnnxMissing as error:
        raise UserError(str(error), "pip install onnx onnxscript") from None
    except OnnxExportFailed as error:
        moe = any(attrs.get("block") == "moe" for _, attrs in source.checked.graph.nodes(data=True))
        hint = "a moe stage routes by data, which torch.onnx cannot trace yet; --format python works" if moe else None
        raise UserError(str(error), hint) from None
    except NotStandalone as error:
        raise UserError(str(error), "use the helper from a method of the block's module class instead") from None
    except ValueError as error:
        raise UserError(str(error)) from None
    except OSError as error:
        raise UserError(f"cannot write {output}: {error.strerror or error}") from None
    out.print(f"wrote {output}")
    if fmt == "python" and source.trained:  # the weights went beside the module, and load() reads them
        out.print(f"wrote {output.with_suffix('.safetensors')} (the trained weights)")
        out.print(
            f"use it without cramnet: `from {output.stem} import load; model = load()` (needs torch and safetensors)",
            markup=False,
        )
