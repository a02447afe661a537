"""`--format onnx`: the model traced through `torch.onnx.export` on example inputs, then checked by
the ONNX checker. Needs the optional extra: `pip install onnx onnxscript` (`cramnet[onnx]`)."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import torch

from ..errors import ExportError
from .source import ExportSource

ONNX_HINT = "ONNX export needs the optional packages: pip install onnx onnxscript (or cramnet[onnx])"


class OnnxMissing(ExportError):
    """onnx or onnxscript is not installed."""


class OnnxExportFailed(ExportError):
    """torch.onnx could not trace the model (data-dependent routing in a `moe`, say)."""


def export_onnx(
    source: ExportSource, output: str | Path, sizes: dict[str, int] | None = None, batch: int = 2, opset: int = 18
) -> Path:
    """Export to ONNX with run-time sizes (`--dim`, else 16) and the batch fixed by the example
    inputs; the file is validated with `onnx.checker.check_model` before it is kept."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's ONNX exporter is written with it)
    except ImportError as error:
        raise OnnxMissing(f"{ONNX_HINT} ({error.name} is missing)", "pip install onnx onnxscript") from None
    from ..compiler.trial import random_inputs

    output = Path(output)
    checked = source.checked
    if any(kind.kind == "graph" for kind in checked.input_types.values()):
        raise ExportError("ONNX export takes tensor and token inputs; graph inputs are not supported yet")
    module = source.built().eval()
    inputs = tuple(random_inputs(checked, dict(sizes or {}), batch, torch.device("cpu")))
    try:
        with torch.no_grad(), _quiet():  # the exporter prints its progress and, on failure, whole graphs
            program = torch.onnx.export(
                module,
                inputs,
                dynamo=True,
                input_names=[checked.graph.nodes[i].attr for i in checked.inputs],
                output_names=list(checked.outputs),
                opset_version=opset,
            )
    except Exception as error:  # torch.export's errors are long reports; the first line of the cause says why
        cause = error.__cause__ or error
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise OnnxExportFailed(f"torch.onnx could not export model '{checked.name}': {reason}") from error
    program.save(str(output))
    onnx.checker.check_model(onnx.load(str(output)), full_check=True)
    return output


@contextlib.contextmanager
def _quiet():
    torch_logger = logging.getLogger("torch")
    level = torch_logger.level
    torch_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        torch_logger.setLevel(level)
