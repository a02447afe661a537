"""Axes: reductions over per-example axes and Python-style slices. Stateless; inline in the forward."""

from __future__ import annotations

from dataclasses import replace

from .dims import Dim, is_known
from .registry import Arg, Family, ShapeError, block
from .shape_rules import axis, numel

AXES = Family("axes", "#d0e4e4", "Reductions and slices along one axis.")

_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin"}


def _reduced_axes(inputs, a) -> list[int]:
    x = inputs[0]
    dims = a.dim if isinstance(a.dim, list) else [a.dim]
    axes = [axis(d, x.rank) for d in dims]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"dim lists an axis twice: {a.dim} on a value of rank {x.rank}")
    return sorted(axes)


@block(
    "reduce",
    family="axes",
    args=(
        Arg("op", "enum", doc="`sum`, `mean`, `max` or `min`", choices=tuple(_REDUCTIONS)),
        Arg("dim", "ints", doc="per-example axis to reduce, or a list of them (negative from the end)"),
        Arg("keep", "bool", False, "keep each reduced axis with size 1 (so the result broadcasts against the input)"),
    ),
    flops=lambda inputs, out, a: numel(inputs[0]),
    forward=lambda module, names, a, inputs: (
        f"{names[0]}.{_REDUCTIONS[a.op]}(dim={tuple(k + 1 for k in _reduced_axes(inputs, a))!r}"
        f"{', keepdim=True' if a.keep else ''})"
    ),
    example=("[3, 4, 5]", "reduce(mean, [1, 2], keep = true)"),
)
def reduce(inputs, a):
    """Sum, mean, maximum or minimum over one or more per-example axes (the batch is never reduced):
    reduce(mean, [1, 2]) is global average pooling of an image; reduce(max, 0) a max over positions.

    Shapes: [C, H, W] -> [C] (dim = [1, 2]); -> [C, 1, 1] with keep = true.
    """
    x = inputs[0]
    if x.rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    axes = _reduced_axes(inputs, a)
    if a.keep:
        return x.with_dims([1 if k in axes else d for k, d in enumerate(x.dims)])
    return x.with_dims([d for k, d in enumerate(x.dims) if k not in axes])


def _bounds(size: Dim, start: int, end: int | None) -> tuple[Dim, Dim]:
    """The slice [start, end) as offsets from the axis' start; checked where the size is known."""
    lo = start if start >= 0 else size + start
    hi = size if end is None else end if end >= 0 else size + end
    if is_known(size):
        shown = f"slice({start}, {'none' if end is None else end})"
        if not 0 <= lo < size:
            raise ShapeError(
                f"start = {start} is outside an axis of size {size} ({shown})", f"valid starts: {-size} … {size - 1}"
            )
        if not lo < hi <= size:
            raise ShapeError(
                f"{shown} on an axis of size {size} is empty or runs past its end",
                f"end must be after start and at most {size} (or negative, from the end)",
            )
        return lo, hi
    if start < 0 and end is not None and end >= 0:
        raise ShapeError(
            f"a start from the end ({start}) with an end from the start ({end}) on an axis of run-time size "
            f"'{size}' has no length known at compile time",
            "count both from the same end",
        )
    if is_known(hi - lo) and hi - lo < 1:
        raise ShapeError(f"the slice from {start} to {end} is empty")
    return lo, hi


def _slice_source(module, names, a, inputs) -> str:
    k = axis(a.dim, inputs[0].rank)
    end = "" if a.end is None else str(a.end)
    return f"{names[0]}[{':, ' * (k + 1)}{a.start}:{end}]"


@block(
    "slice",
    family="axes",
    args=(
        Arg("dim", "int", doc="per-example axis to cut (negative from the end)"),
        Arg("start", "int", doc="first index kept (negative: from the end)"),
        Arg("end", "int", None, "index after the last kept (negative: from the end; default: the end of the axis)"),
    ),
    forward=_slice_source,
    accepts=("float", "tokens"),  # not graphs: their node axis stacks the batch's graphs
    example=("[6, 8]", "slice(-1, 2, -2)"),
)
def slice_(inputs, a):
    """Keeps the positions start … end - 1 of one per-example axis, as Python's x[start:end] (negative
    indices count from the end): slice(0, 0, -1) drops a sequence's last position, slice(0, 1) its
    first. Bounds are checked against known sizes at compile time.

    Shapes: [seq, d] -> [seq - 1, d] (slice(0, 0, -1)); [6, 8] -> [6, 4] (slice(-1, 2, -2)).
    """
    x = inputs[0]
    if x.rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    k = axis(a.dim, x.rank)
    lo, hi = _bounds(x.dims[k], a.start, a.end)
    dims = list(x.dims)
    dims[k] = hi - lo
    return replace(x, dims=tuple(dims))
