"""AST to graph to module: the passes (load, build_graph, infer_shapes, summary, codegen) and the
public API."""

from .api import CheckedModel, check_spec, compile_spec
from .attention_maps import attention_maps
from .summary import Summary

__all__ = ["CheckedModel", "Summary", "attention_maps", "check_spec", "compile_spec"]
