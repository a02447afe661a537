"""Shape operations: flatten, reshape, transpose. Stateless; inline in the generated forward."""

from __future__ import annotations

from .dims import is_known, product
from .registry import Arg, Family, ShapeError, block
from .shape_rules import axis, torch_axis

SHAPE = Family("shape", "#d9d9f3", "Reshaping without weights: flatten, reshape, transpose.")


@block(
    "flatten",
    example=("[3, 4, 5]", "flatten"),
    family="shape",
    args=(Arg("start", "int", 0, "first per-example axis to flatten (the batch is never flattened)"),),
    forward=lambda module, names, a, inputs: f"torch.flatten({names[0]}, {torch_axis(a.start, inputs[0].rank)})",
)
def flatten(inputs, a):
    """Joins the per-example axes from `start` to the end into one.

    Shapes: [C, H, W] -> [C·H·W] (start = 0); [seq, h, d] -> [seq, h·d] (start = 1).
    """
    x = inputs[0]
    if x.rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    start = axis(a.start, x.rank, "start")
    return x.with_dims(x.dims[:start] + (product(x.dims[start:]),))


def _reshape_dims(inputs, a) -> list:
    target = list(a.shape)
    if any(not isinstance(d, int) for d in target):
        raise ShapeError(f"shape must be a list of integers, got {a.shape}")
    if target.count(-1) > 1:
        raise ShapeError("shape may hold at most one -1 (the size inferred from the rest)")
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"sizes must be positive (or one -1), got {target}")
    total = product(inputs[0].dims)
    fixed = product([d for d in target if d != -1])
    if -1 in target:
        rest = total // fixed
        if is_known(total) and total % fixed:
            raise ShapeError(
                f"cannot reshape {inputs[0]} ({total} elements) to {target}: {total} is not a multiple of {fixed}"
            )
        target[target.index(-1)] = rest  # with a run-time size, divisibility is checked when it runs
    elif is_known(total) and total != fixed:
        raise ShapeError(f"cannot reshape {inputs[0]} ({total} elements) to {target} ({fixed} elements)")
    elif not is_known(total):
        raise ShapeError(
            f"cannot reshape {inputs[0]} to {target}: the input has a run-time size",
            "put -1 where the run-time size goes",
        )
    return target


@block(
    "reshape",
    example=("[24]", "reshape([2, -1, 4])"),
    family="shape",
    args=(Arg("shape", "ints", doc="new per-example shape; one -1 is inferred"),),
    forward=lambda module, names, a, inputs: f"{names[0]}.reshape({names[0]}.shape[0], {', '.join(map(str, a.shape))})",
)
def reshape(inputs, a):
    """Gives the per-example values a new shape with the same number of elements (batch kept).

    Shapes: [a·b] -> [a, b], e.g. reshape([16, 7, 7]) on [784].
    """
    if not isinstance(a.shape, (list, tuple)):
        raise ShapeError(f"shape must be a list such as [4, -1], got {a.shape}")
    return inputs[0].with_dims(_reshape_dims(inputs, a))


@block(
    "transpose",
    example=("[5, 8]", "transpose(0, 1)"),
    family="shape",
    args=(Arg("a", "int", doc="first per-example axis"), Arg("b", "int", doc="second per-example axis")),
    forward=lambda module, names, a, inputs: (
        f"{names[0]}.transpose({torch_axis(a.a, inputs[0].rank)}, {torch_axis(a.b, inputs[0].rank)})"
    ),
    accepts=("float", "tokens"),  # not graphs: their node axis stacks the batch's graphs
)
def transpose(inputs, a):
    """Swaps two per-example axes (the batch excluded): transpose(0, 1) turns [seq, d] into [d, seq].

    Shapes: [.., m, .., n, ..] -> [.., n, .., m, ..].
    """
    x = inputs[0]
    i, j = axis(a.a, x.rank, "a"), axis(a.b, x.rank, "b")
    dims = list(x.dims)
    dims[i], dims[j] = dims[j], dims[i]
    return x.with_dims(dims) if x.kind != "tokens" else x.__class__(tuple(dims), "tokens")
