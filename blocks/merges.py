"""Merges: blocks that combine bound values, `add(a, b)`, `concat(a, b, dim = 0)`, ….

Their positional arguments are the values to merge, so a pipeline that begins with a merge starts
from those values. Shape errors name each side (`{in0}`, `{in1}` … are filled in by the compiler).
`add`, `mul` and `sub` broadcast as PyTorch does, over the per-example shape: sizes are aligned
from the last axis, a size of 1 stretches to the other side's, a missing leading axis counts as 1.
"""

from __future__ import annotations

import difflib

from .dims import Dim, show, symbol_name
from .registry import Arg, BlockSpec, Family, ShapeError, block
from .shape_rules import axis, numel, per_position, value_axis
from .tensor_type import TensorType

MERGES = Family("merges", "#ffffff", "Combining bound values: add, mul, concat, stack.")


def _same_shapes(inputs, a):
    first = inputs[0]
    for i, other in enumerate(inputs[1:], start=1):
        if other.dims != first.dims:
            raise ShapeError(
                f"shapes differ: {{in0}} is {first} but {{in{i}}} is {other}",
                _misspelt_size(first.dims, other.dims)
                or "merged values must have the same shape; add a dense or reshape to one side",
            )
    return first.with_dims(first.dims)


def _misspelt_size(left: tuple[Dim, ...], right: tuple[Dim, ...]) -> str | None:
    """Two run-time sizes at one place whose names differ by a slip (`seq` and `sqe`): likely one size."""
    for x, y in zip(left, right):
        a, b = symbol_name(x), symbol_name(y)
        if a and b and a != b and difflib.SequenceMatcher(None, a, b).ratio() >= 0.6:
            return f"'{a}' and '{b}' are two different run-time sizes: if they are one, spell them alike"
    return None


def _broadcast_pair(left: tuple[Dim, ...], right: tuple[Dim, ...], i: int) -> tuple[Dim, ...]:
    """PyTorch's rule, per example: aligned from the end, equal sizes or a 1 on one side."""
    rank = max(len(left), len(right))
    padded = [(1,) * (rank - len(dims)) + tuple(dims) for dims in (left, right)]
    out: list[Dim] = []
    for k, (x, y) in enumerate(zip(*padded)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            shown = f"[{', '.join(show(d) for d in left)}]"
            raise ShapeError(
                f"shapes do not broadcast: {{in0}}{' (with the values before it)' if i > 1 else ''} is {shown} "
                f"but {{in{i}}} is [{', '.join(show(d) for d in right)}]; at dimension {k} (dimension {k - rank} "
                f"from the end) the sizes are {show(x)} and {show(y)}, and neither is 1",
                _misspelt_size((x,), (y,))
                or "sizes must be equal or 1 on one side (a [C, 1, 1] gate scales a [C, H, W] image); "
                "reshape one side, or project it with a dense",
            )
    return tuple(out)


def _broadcast_shape(inputs: list[TensorType], a) -> TensorType:
    first = inputs[0]
    if any(t.kind != "float" for t in inputs) and any(t.kind != first.kind or t.rank != first.rank for t in inputs):
        # graph values stack the batch's nodes on their first axis; only same-kind, same-rank values line up
        odd = next(i for i, t in enumerate(inputs) if t.kind != first.kind or t.rank != first.rank)
        raise ShapeError(
            f"{{in0}} is {first} but {{in{odd}}} is {inputs[odd]}: graph values broadcast only with graph values "
            "of the same rank",
            "pool the graph first (`pool(mean)`), or give both sides the same rank",
        )
    dims = first.dims
    for i, other in enumerate(inputs[1:], start=1):
        dims = _broadcast_pair(dims, other.dims, i)
    return first.with_dims(dims)


def _sub_shape(inputs, a):
    if len(inputs) != 2:
        raise ShapeError(f"sub takes exactly two values, a - b; got {len(inputs)}", "write sub(a, b)")
    return _broadcast_shape(inputs, a)


def _aligned(names: list[str], inputs: list[TensorType]) -> list[str]:
    """Variables whose per-example rank is lower get new axes after the batch, so the batch lines up."""
    rank = max(t.rank for t in inputs)
    out = []
    for name, value in zip(names, inputs):
        missing = rank - value.rank
        out.append(f"{name}[:, {', '.join(['None'] * missing)}]" if missing else name)
    return out


def _concat_dim(a, rank: int) -> int:
    if a.dim is not None:
        return a.dim
    if rank >= 3:
        raise ShapeError(
            f"values of rank {rank} need an explicit dim: the last axis of an image [C, H, W] is its width, "
            "which is rarely what a join means",
            "write dim = 0 to join along the channels: concat(a, b, dim = 0), parallel(merge = concat, dim = 0)",
        )
    return -1


def _concat_shape(inputs, a):
    first = inputs[0]
    dim = _concat_dim(a, first.rank)
    k = axis(dim, first.rank)
    for i, other in enumerate(inputs[1:], start=1):
        if other.rank != first.rank or any(x != y for j, (x, y) in enumerate(zip(first.dims, other.dims)) if j != k):
            raise ShapeError(
                f"shapes differ outside axis {dim}: {{in0}} is {first} but {{in{i}}} is {other}",
                "concatenated values must agree on every axis except the one they are joined along",
            )
    total = first.dims[k]
    for other in inputs[1:]:
        total = total + other.dims[k]
    return first.with_dims(first.dims[:k] + (total,) + first.dims[k + 1 :])


def _stack_shape(inputs, a):
    first = _same_shapes(inputs, a)
    k = axis(a.dim, first.rank + 1)
    if first.kind in ("graph", "edges") and k == 0:
        raise ShapeError(
            f"{{in0}} is {first}, one row per node of a batch of graphs: the new axis goes after the nodes",
            "write dim = 1",
        )
    return first.with_dims(first.dims[:k] + (len(inputs),) + first.dims[k:])


def _stack_source(module, names, a, inputs) -> str:
    k = axis(a.dim, inputs[0].rank + 1)
    return f"torch.stack([{', '.join(names)}], dim={k if inputs[0].kind in ('graph', 'edges') else k + 1})"


def _merge(name: str, doc: str, shape, forward, args: tuple[Arg, ...] = (), example: str = "") -> BlockSpec:
    elementwise = name in ("add", "mul", "sub", "mean")
    return block(
        name,
        family="merges",
        doc=doc,
        args=args,
        merge=True,
        flops=lambda inputs, out, a: (len(inputs) - 1) * numel(out) if elementwise else 0,
        forward=forward,
        accepts=("float", "graph"),
        decodes=True if elementwise else per_position if name == "concat" else False,
        example=example or ("[3, 4]", f"{name}(x, x)"),
    )(shape)


_BROADCAST = (
    " Sizes broadcast as in PyTorch (aligned from the last axis; a 1, or a missing leading axis, "
    "stretches to the other side's size), checked at compile time."
)
_merge(
    "add",
    "Elementwise sum (the residual connection)." + _BROADCAST + "\n\nShapes: [C, H, W], [C, 1, 1] -> [C, H, W]; "
    "[s], [s], … -> [s].",
    _broadcast_shape,
    lambda module, names, a, inputs: " + ".join(_aligned(names, inputs)),
)
_merge(
    "mul",
    "Elementwise product (gating; squeeze-and-excitation, Hu et al. 2018, scales [C, H, W] by a [C, 1, 1] gate)."
    + _BROADCAST
    + "\n\nShapes: [C, H, W], [C, 1, 1] -> [C, H, W]; [s], [s], … -> [s].",
    _broadcast_shape,
    lambda module, names, a, inputs: " * ".join(_aligned(names, inputs)),
)
_merge(
    "sub",
    "Elementwise difference a - b of exactly two values (distance heads: abs(sub(a, b)))."
    + _BROADCAST
    + "\n\nShapes: [s], [s] -> [s]; [n, d], [1, d] -> [n, d].",
    _sub_shape,
    lambda module, names, a, inputs: " - ".join(_aligned(names, inputs)),
)
_merge(
    "mean",
    "Elementwise mean of values of one shape.\n\nShapes: [s], [s], … -> [s].",
    _same_shapes,
    lambda module, names, a, inputs: f"({' + '.join(names)}) / {len(names)}",
)
_merge(
    "concat",
    "Joins values along one per-example axis: the last by default for vectors and sequences; values of rank 3 "
    "or more (images) must say which (`dim = 0`: the channels).\n\n"
    "Shapes: [n, a], [n, b] -> [n, a + b]; [C1, H, W], [C2, H, W] -> [C1 + C2, H, W] with dim = 0.",
    _concat_shape,
    lambda module, names, a, inputs: (
        f"torch.cat([{', '.join(names)}], dim={value_axis(_concat_dim(a, inputs[0].rank), inputs[0])})"
    ),
    (Arg("dim", "int", None, "per-example axis to join along (default: the last; required for rank 3 or more)"),),
)
_merge(
    "stack",
    "Stacks values of one shape along a new per-example axis (the first by default).\n\n"
    "Shapes: [d], [d], [d] -> [3, d].",
    _stack_shape,
    _stack_source,
    (Arg("dim", "int", 0, "position of the new per-example axis"),),
)

MERGE_MODES = ("concat", "add", "mean", "stack", "mul")
