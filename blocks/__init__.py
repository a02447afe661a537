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
    Family,
    PluginError,
    ShapeError,
    SourceText,
    all_blocks,
    all_families,
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
    "Family",
    "PluginError",
    "Poly",
    "ShapeError",
    "SourceText",
    "TensorType",
    "all_blocks",
    "all_families",
    "block",
    "load_plugins",
    "lookup",
    "register",
]
