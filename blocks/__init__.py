"""Blocks: the registry and the primitive block families. Knows layers, nothing about syntax."""

from .dims import Dim, Poly
from .registry import (
    REQUIRED,
    Arg,
    BlockSpec,
    Construct,
    Family,
    PluginError,
    ShapeError,
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
    "Construct",
    "Dim",
    "Family",
    "PluginError",
    "Poly",
    "ShapeError",
    "TensorType",
    "all_blocks",
    "all_families",
    "block",
    "load_plugins",
    "lookup",
    "register",
]
