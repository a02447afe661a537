"""Dense family: affine maps (nn.Linear), their weight tied to an embedding when asked."""

from __future__ import annotations

from torch import nn

from .modules import TiedLinear
from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import known_size, per_position, positions
from .tensor_type import TensorType

DENSE = Family("dense", "#c6dbef", "Affine maps of the last dimension (nn.Linear).")


def _in_features(inputs: list[TensorType]) -> int:
    x = inputs[0]
    if x.rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    return known_size(x.dims[-1], "the input's last dimension")


def _tie_layout(tie, out: int, features: int) -> str:
    """'same' if the tied weight is [out, in], 'transposed' if [in, out]; checks it exists."""
    weight = tie.weight_shape
    if weight is None:
        raise ShapeError(
            f"tie = {tie.node}: '{tie.node}' is a {tie.block}, which has no weight to share",
            "tie to an `embed` or a `dense` stage",
        )
    if weight == (out, features):
        return "same"
    if weight == (features, out):
        return "transposed"
    raise ShapeError(
        f"tie = {tie.node}: its weight is [{weight[0]}, {weight[1]}] but this dense needs [{out}, {features}]"
        f" (or its transpose)",
        "tie a dense whose output size equals the tied embedding's vocabulary",
    )


def _dense_params(inputs, a) -> int:
    features = _in_features(inputs)
    own_weight = 0 if a.tie is not None else a.out * features
    return own_weight + (a.out if a.bias else 0)


def _dense_module(inputs, a) -> Construct:
    features = _in_features(inputs)
    if a.tie is not None:
        transposed = _tie_layout(a.tie, a.out, features) == "transposed"
        return Construct(TiedLinear, {"out_features": a.out, "bias": a.bias, "transposed": transposed})
    return Construct(nn.Linear, {"in_features": features, "out_features": a.out, "bias": a.bias})


def _dense_forward(module, names, a, inputs) -> str:
    if a.tie is not None:
        return f"{module}({names[0]}, self.{a.tie.attr}.weight)"
    return f"{module}({names[0]})"


@block(
    "dense",
    family="dense",
    args=(
        Arg("out", "int", doc="output features", low=1),
        Arg("bias", "bool", True, "add a learned bias"),
        Arg("tie", "ref", None, "share the weight of this bound `embed` or `dense` stage (transposed as needed)"),
    ),
    params=_dense_params,
    flops=lambda inputs, out, a: 2 * positions(inputs[0]) * _in_features(inputs) * a.out,
    module=_dense_module,
    forward=_dense_forward,
    weight=lambda inputs, a: None if a.tie is not None else (a.out, _in_features(inputs)),
    accepts=("float", "graph"),
    decodes=per_position,
    example=("[5, 8]", "dense(16)"),
)
def dense(inputs, a):
    """Affine map of the last dimension, y = x Wᵀ + b, with nn.Linear's layout.

    Shapes: [..., in] -> [..., out]. With `tie = name` the weight is the bound stage's (one
    parameter, counted once) and only the bias is this block's own.
    """
    features = _in_features(inputs)
    if a.tie is not None:
        _tie_layout(a.tie, a.out, features)
    return inputs[0].with_dims(inputs[0].dims[:-1] + (a.out,))
