"""Exporting a model: `python` (the standalone module file of `cramnet compile -o`), `onnx`, or `hf`
(a Hugging Face model directory, for the families cramnet.weights maps).

What is exported is an `ExportSource`: a checked spec and, optionally, a module holding weights.
From a spec the weights are fresh (seeded); a trained run will plug in as another constructor of
`ExportSource` that supplies its module and weights.
"""

from .source import ExportSource
from .to_onnx import OnnxExportFailed, OnnxMissing, export_onnx
from .to_python import export_python

FORMATS = ("python", "onnx", "hf")  # hf: a Hugging Face model directory (cramnet.weights)

__all__ = ["FORMATS", "ExportSource", "OnnxExportFailed", "OnnxMissing", "export_onnx", "export_python"]
