"""Merges: blocks that combine bound values, `add(a, b)`, `concat(a, b, dim = -1)`, ….

Their positional arguments are the values to merge, so a pipeline that begins with a merge starts
from those values. Shape errors name each side (`{in0}`, `{in1}` … are filled in by the compiler).
"""

from __future__ import annotations

from .registry import Arg, BlockSpec, ShapeError, register
from .shape_rules import axis, numel, torch_axis


def _same_shapes(inputs, a):
    first = inputs[0]
    for i, other in enumerate(inputs[1:], start=1):
        if other.dims != first.dims:
            raise ShapeError(
                f"shapes differ: {{in0}} is {first} but {{in{i}}} is {other}",
                "merged values must have the same shape; add a dense or reshape to one side",
            )
    return first.with_dims(first.dims)


def _concat_shape(inputs, a):
    first = inputs[0]
    k = axis(a.dim, first.rank)
    for i, other in enumerate(inputs[1:], start=1):
        if other.rank != first.rank or any(x != y for j, (x, y) in enumerate(zip(first.dims, other.dims)) if j != k):
            raise ShapeError(
                f"shapes differ outside axis {a.dim}: {{in0}} is {first} but {{in{i}}} is {other}",
                "concatenated values must agree on every axis except the one they are joined along",
            )
    total = first.dims[k]
    for other in inputs[1:]:
        total = total + other.dims[k]
    return first.with_dims(first.dims[:k] + (total,) + first.dims[k + 1 :])


def _stack_shape(inputs, a):
    first = _same_shapes(inputs, a)
    k = axis(a.dim, first.rank + 1)
    return first.with_dims(first.dims[:k] + (len(inputs),) + first.dims[k:])


def _merge(name: str, doc: str, shape, forward, args: tuple[Arg, ...] = (), example: str = "") -> BlockSpec:
    return register(
        BlockSpec(
            name=name,
            family="merges",
            doc=doc,
            args=args,
            shape=shape,
            merge=True,
            flops=lambda inputs, out, a: (len(inputs) - 1) * numel(out) if name in ("add", "mul", "mean") else 0,
            forward=forward,
            accepts=("float", "graph"),
            example=("[3, 4]", example or f"{name}(x, x)"),
        )
    )


_merge(
    "add",
    "Elementwise sum of values of one shape (the residual connection).\n\nShapes: [s], [s], … -> [s].",
    _same_shapes,
    lambda module, names, a, inputs: " + ".join(names),
)
_merge(
    "mul",
    "Elementwise product of values of one shape (gating).\n\nShapes: [s], [s], … -> [s].",
    _same_shapes,
    lambda module, names, a, inputs: " * ".join(names),
)
_merge(
    "mean",
    "Elementwise mean of values of one shape.\n\nShapes: [s], [s], … -> [s].",
    _same_shapes,
    lambda module, names, a, inputs: f"({' + '.join(names)}) / {len(names)}",
)
_merge(
    "concat",
    "Joins values along one per-example axis (the last by default).\n\nShapes: [n, a], [n, b] -> [n, a + b].",
    _concat_shape,
    lambda module, names, a, inputs: f"torch.cat([{', '.join(names)}], dim={torch_axis(a.dim, inputs[0].rank)})",
    (Arg("dim", "int", -1, "per-example axis to join along"),),
)
_merge(
    "stack",
    "Stacks values of one shape along a new per-example axis (the first by default).\n\n"
    "Shapes: [d], [d], [d] -> [3, d].",
    _stack_shape,
    lambda module, names, a, inputs: f"torch.stack([{', '.join(names)}], dim={torch_axis(a.dim, inputs[0].rank + 1)})",
    (Arg("dim", "int", 0, "position of the new per-example axis"),),
)

MERGE_MODES = ("concat", "add", "mean", "stack", "mul")
