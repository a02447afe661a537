"""Blocks: the registry and the primitive block families. Knows layers, nothing about syntax."""

from .dims import Dim, Poly
from .registry import (
    REQUIRED,
    Arg,
    BlockSpec,
    BodyErrors,
    BodyResult,
    BodySlot,
    Construct,
    PluginError,
    ShapeError,
    SourceText,
    all_blocks,
    block,
    load_plugins,
    lookup,
    register,
)
from .tensor_type import TensorType

__all__ = [
    "REQUIRED",
    "Arg",
    "BlockSpec",
    "BodyErrors",
    "BodyResult",
    "BodySlot",
    "Construct",
    "Dim",
    "PluginError",
    "Poly",
    "ShapeError",
    "SourceText",
    "TensorType",
    "all_blocks",
    "block",
    "load_plugins",
    "lookup",
    "register",
]
