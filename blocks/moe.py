"""Mixtures of experts (Shazeer et al. 2017; Switch Transformer, Fedus et al. 2022).

A linear router without bias scores the experts for each token (`route = token`) or each whole
example (`route = example`, its mean over positions); the top-k experts are chosen and their
outputs mixed with the softmax of their scores. Dispatch sorts the routed items by expert and runs
each expert once on exactly the items sent to it — never every expert on everything; copies of one
body (`experts = N`) run as one batched call: grouped GEMMs over the sorted tokens, or the body's
forward vmapped over the stacked weights (`moe_dispatch.py`, where the module lives).

The auxiliary loss (`aux_loss`) is the Switch load-balancing loss, E · Σ_e f_e · P_e, with f_e the
fraction of routing assignments that went to expert e and P_e its mean router probability
(1 when balanced), plus, with `z_loss > 0`, the router z-loss (Zoph et al. 2022) weighted by it.
"""

from __future__ import annotations

from .moe_dispatch import MixtureOfExperts
from .registry import Arg, BodyErrors, BodySlot, Construct, Family, ShapeError, SourceText, block
from .tensor_type import TensorType

MIXTURE_OF_EXPERTS = Family(
    "mixture of experts",
    "#f4a6a6",
    "Routers that send tokens or examples to experts.",
    paper="Shazeer et al. 2017; Fedus et al. 2021",
)


def _arrange(a, written: int) -> list[int]:
    """Which body each expert runs: N copies of one body, or one expert per listed body."""
    if written == 1:
        if a.experts is None:
            raise ShapeError(
                "moe with one body needs the number of experts",
                "write moe(experts = 8, top_k = 2) { … }, or list several bodies: { a | b }",
            )
        copies = [0] * a.experts
    else:
        if a.experts not in (None, written):
            raise ShapeError(
                f"moe: experts = {a.experts} but {written} bodies are listed",
                "leave out `experts` when the experts are listed one by one",
            )
        copies = list(range(written))
    if a.top_k > len(copies):
        raise ShapeError(f"moe: top_k = {a.top_k} is more than the {len(copies)} experts")
    return copies


def _routed(inputs, a) -> tuple[str, list]:
    """The routing (`token` unless asked otherwise or an expert mixes positions) and what each expert
    computes from what it is sent: one position's features, or a whole example."""
    value = inputs[0]
    if value.rank == 0:
        raise ShapeError(f"expects features, got {value}")
    if a.route in (None, "token"):
        try:
            return "token", a.bodies.infer(TensorType(value.dims[-1:], "float"))
        except BodyErrors as failure:
            if a.route == "token":
                hint = "route = example sends whole examples, for experts that mix positions (LSTM, attention, Mamba)"
                raise BodyErrors(failure.errors, hint) from None
    return "example", a.bodies.infer(value)


def routing(inputs, a) -> str:
    """`token` or `example`: how a mixture with these inputs and arguments routes."""
    return _routed(inputs, a)[0]


def _shape(inputs, a):
    route, results = _routed(inputs, a)
    first = results[0].type
    for i, other in enumerate((r.type for r in results[1:]), start=2):
        if other.dims != first.dims:
            raise ShapeError(
                f"the experts' outputs differ: expert 1 gives {first} but expert {i} gives {other}",
                "every expert must produce the same shape",
            )
    value = inputs[0]
    return value.with_dims(value.dims[:-1] + first.dims) if route == "token" else value.with_dims(first.dims)


def _params(inputs, a) -> int:
    _, results = _routed(inputs, a)
    return inputs[0].dims[-1] * len(a.bodies.copies) + sum(results[c].params for c in a.bodies.copies)


def _flops(inputs, output, a):
    route, results = _routed(inputs, a)
    d, count = inputs[0].dims[-1], len(a.bodies.copies)
    mean = sum((results[c].flops for c in a.bodies.copies), 0) // count
    if route == "example":
        return 2 * d * count + a.top_k * mean
    positions = 1
    for size in inputs[0].dims[:-1]:
        positions = positions * size
    return positions * (2 * d * count + a.top_k * mean)


def _module(inputs, a) -> Construct:
    route, _ = _routed(inputs, a)
    classes = getattr(a.bodies, "classes", None) or [f"Expert{i + 1}" for i in range(max(a.bodies.copies) + 1)]
    experts = SourceText("[" + ", ".join(f"{classes[c]}()" for c in a.bodies.copies) + "]")
    return Construct(
        MixtureOfExperts,
        {"dim": inputs[0].dims[-1], "experts": experts, "top_k": a.top_k, "route": route, "z_loss": a.z_loss},
    )


block(
    "moe",
    family="mixture of experts",
    doc="A mixture of experts (Shazeer et al. 2017): a linear router without bias sends each token "
    "(`route = token`) or each example (`route = example`) to its top-k experts, whose outputs are mixed "
    "with the softmax of their scores; `moe(experts = N) { body }` copies one body N times, "
    "`moe(top_k = 1) { a | b | c }` lists heterogeneous experts. Adds the Switch load-balancing loss (Fedus et al. "
    "2022) and, with z_loss > 0, the router z-loss (Zoph et al. 2022).\n\n"
    "Shapes: [..., d] -> [..., d_out] (token routing) or the experts' output (example routing).",
    args=(
        Arg("experts", "int", None, "how many copies of a single body (each with its own weights)", low=1),
        Arg("top_k", "int", 1, "experts per token or example", low=1),
        Arg(
            "route",
            "enum",
            None,
            "`token` or `example` (default: token unless an expert mixes positions)",
            choices=("token", "example"),
        ),
        Arg("z_loss", "float", 0.0, "weight of the router z-loss in the auxiliary loss", low=0.0),
    ),
    params=_params,
    flops=_flops,
    module=_module,
    masked=True,
    decodes=lambda inputs, a: inputs[0].rank >= 2 and routing(inputs, a) == "token",  # bodies see one position
    bodies=BodySlot(
        noun="expert",
        arrange=_arrange,
        describe=lambda inputs, a: f"mixture of {len(a.bodies.copies)} experts, top {a.top_k}",
        entry=lambda inputs, a: f"router · {_routed(inputs, a)[0]}",
        exit=lambda inputs, a: f"Σ top-{a.top_k}",
        active=lambda a: a.top_k,
    ),
    example=("[5, 8]", "moe(experts = 3, top_k = 2) { dense(16) -> gelu -> dense(8) }"),
)(_shape)
