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
    output = output or Path(
        f"{source.name}-hf" if fmt == "hf" else f"{source.name}.{'py' if fmt == 'python' else 'onnx'}"
    )
    try:
        if fmt == "hf":
            _export_hf(source, output, out)
            return
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


def _export_hf(source: ExportSource, output: Path, out: Console) -> None:
    from ..cli import UserError
    from ..train.errors import TrainError
    from ..weights import export_hf

    try:
        directory, family, left_out = export_hf(source.built(), source.checked, output)
    except TrainError as failure:
        raise UserError(str(failure), failure.hint) from None
    out.print(f"wrote {directory} (Hugging Face {family}: config.json, model.safetensors)")
    if left_out:
        out.print(f"[yellow]left out (no place in the {family} layout):[/yellow] {', '.join(left_out)}")
