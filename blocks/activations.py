"""Activation functions: elementwise, stateless, written inline in the generated forward."""

from __future__ import annotations

from .registry import Arg, BlockSpec, Family, block
from .shape_rules import numel, per_position, torch_axis, value_axis

ACTIVATIONS = Family("activations", "#fff3b0", "Element-wise non-linearities, stateless.")


def _elementwise(name: str, doc: str, expression: str, args: tuple[Arg, ...] = (), example: str = "") -> BlockSpec:
    """Register an activation whose forward is `expression` with `{x}` and argument fields filled in."""
    return block(
        name,
        family="activations",
        doc=doc + "\n\nShapes: any -> same.",
        args=args,
        flops=lambda inputs, out, a: numel(inputs[0]),
        forward=lambda module, names, a, inputs: expression.format(x=names[0], **vars(a)),
        accepts=("float", "graph"),
        decodes=True,
        example=("[5, 8]", example or name),
    )(lambda inputs, a: inputs[0])


_elementwise("relu", "max(0, x).", "F.relu({x})")
_elementwise(
    "gelu",
    "x·Φ(x), the Gaussian error linear unit (Hendrycks & Gimpel 2016): the exact erf form, or the tanh "
    "approximation GPT-2 and BERT used (`approximate = tanh`).",
    "F.gelu({x}, approximate='{approximate}')",
    (Arg("approximate", "enum", "none", "`none` (exact) or `tanh`", choices=("none", "tanh")),),
)
_elementwise("silu", "x·σ(x) (SiLU / swish; Elfwing et al. 2018).", "F.silu({x})")
_elementwise("tanh", "Hyperbolic tangent.", "torch.tanh({x})")
_elementwise("sigmoid", "Logistic function 1 / (1 + e^-x).", "torch.sigmoid({x})")
_elementwise("relu6", "min(max(0, x), 6).", "F.relu6({x})")
_elementwise("identity", "Returns its input unchanged.", "{x}")
_elementwise(
    "elu",
    "x for x > 0, alpha·(e^x - 1) otherwise (Clevert et al. 2016).",
    "F.elu({x}, alpha={alpha})",
    (Arg("alpha", "float", 1.0, "value the negative side saturates to (negated)"),),
)
_elementwise(
    "leaky_relu",
    "x for x > 0, slope·x otherwise.",
    "F.leaky_relu({x}, negative_slope={slope})",
    (Arg("slope", "float", 0.01, "slope of the negative side"),),
)


def _softmax_shape(inputs, a):
    torch_axis(a.dim, inputs[0].rank)  # checks the axis exists
    return inputs[0]


block(
    "softmax",
    family="activations",
    doc="Normalised exponentials along one per-example axis.\n\nShapes: any -> same.",
    args=(Arg("dim", "int", -1, "axis to normalise over (the batch excluded; negative from the end)"),),
    flops=lambda inputs, out, a: 3 * numel(inputs[0]),
    forward=lambda module, names, a, inputs: f"F.softmax({names[0]}, dim={value_axis(a.dim, inputs[0])})",
    accepts=("float", "graph"),
    decodes=per_position,
    example=("[5, 8]", "softmax(dim = 0)"),
)(_softmax_shape)


# -- version 2: more element-wise forms -----------------------------------------------------------

_elementwise("neg", "-x.", "-{x}")
_elementwise("abs", "|x| (distance heads: abs(sub(a, b)), as in Siamese networks; Koch et al. 2015).", "torch.abs({x})")
_elementwise(
    "exp", "e^x (a learned log-scale made positive, as CLIP's logit scale; Radford et al. 2021).", "torch.exp({x})"
)
_elementwise(
    "scale",
    "c·x for a constant c (a fixed temperature or residual scale).",
    "{x} * {c!r}",
    (Arg("c", "float", doc="the constant factor"),),
    "scale(0.5)",
)
_elementwise("softplus", "log(1 + e^x), a smooth ReLU (Dugas et al. 2001).", "F.softplus({x})")
_elementwise(
    "hardswish",
    "x·relu6(x + 3)/6, the piecewise-linear swish of MobileNetV3 (Howard et al. 2019).",
    "F.hardswish({x})",
)
_elementwise("mish", "x·tanh(softplus(x)) (Misra 2019, arXiv:1908.08681).", "F.mish({x})")
_elementwise(
    "quick_gelu",
    "x·σ(1.702·x), the sigmoid approximation of GELU that CLIP was trained with (Hendrycks & Gimpel 2016, §2; "
    "Radford et al. 2021).",
    "{x} * torch.sigmoid(1.702 * {x})",
)


block(
    "l2norm",
    family="activations",
    doc="Divides by the Euclidean norm along one per-example axis, x / max(‖x‖₂, 1e-12) (F.normalize; the "
    "unit-length embeddings of CLIP, Radford et al. 2021, and of cosine similarity).\n\nShapes: any -> same.",
    args=(Arg("dim", "int", -1, "axis to normalise along (the batch excluded; negative from the end)"),),
    flops=lambda inputs, out, a: 3 * numel(inputs[0]),
    forward=lambda module, names, a, inputs: f"F.normalize({names[0]}, dim={value_axis(a.dim, inputs[0])})",
    accepts=("float", "graph"),
    decodes=per_position,
    example=("[5, 8]", "l2norm"),
)(_softmax_shape)
