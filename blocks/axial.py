"""Axial attention over a multiple sequence alignment, as in AlphaFold 2's Evoformer (Jumper et al.
2021, Supplementary Information §1.6): row attention biased by the pair representation, column
attention, the outer-product mean that updates the pair representation from the MSA, and the
triangle multiplicative updates of the pair representation.

Layouts follow the paper's algorithms: a layer norm on the input, q/k/v projections without bias,
a sigmoid gate with bias, an output projection with bias; the pair bias is a layer norm and a
projection to one scalar per head without bias. The MSA is `[rows, cols, d]`: sequences ×
residues × channels; the pair representation `[cols, cols, c]`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Arg, BlockSpec, Construct, ShapeError, block
from .shape_rules import known_size


class AxialAttention(nn.Module):
    """Gated multi-head attention along one axis of an MSA: along residues within each sequence
    (`row`, Algorithm 7, optionally biased by the pair representation) or along sequences within each
    residue column (`column`, Algorithm 8)."""

    def __init__(self, dim, heads, head_dim, axis="row", pair_dim=None):
        super().__init__()
        self.heads, self.head_dim, self.axis = heads, head_dim, axis
        inner = heads * head_dim
        self.norm = nn.LayerNorm(dim)
        self.q_proj = nn.Linear(dim, inner, bias=False)
        self.k_proj = nn.Linear(dim, inner, bias=False)
        self.v_proj = nn.Linear(dim, inner, bias=False)
        self.gate = nn.Linear(dim, inner)
        self.o_proj = nn.Linear(inner, dim)
        nn.init.zeros_(self.gate.weight)  # the paper's gating init: weights 0, bias 1 (gates open)
        nn.init.ones_(self.gate.bias)
        if pair_dim is not None:
            self.pair_norm = nn.LayerNorm(pair_dim)
            self.pair_bias = nn.Linear(pair_dim, heads, bias=False)
        self.keep_weights, self.weights = False, None  # attention maps, on request

    def forward(self, msa, pair=None):
        m = msa.transpose(1, 2) if self.axis == "column" else msa  # (B, lines, L, d): attend along L
        m = self.norm(m)
        B, N, L, _ = m.shape

        def heads(t):
            return t.view(B, N, L, self.heads, self.head_dim).transpose(2, 3)  # (B, N, H, L, c)

        q, k, v = heads(self.q_proj(m)), heads(self.k_proj(m)), heads(self.v_proj(m))
        bias = None
        if pair is not None:
            bias = self.pair_bias(self.pair_norm(pair)).permute(0, 3, 1, 2)[:, None]  # (B, 1, H, L, L)
        if self.keep_weights:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
            weights = (scores if bias is None else scores + bias).softmax(dim=-1)  # (B, N, H, L, L)
            self.weights = weights.detach()
            o = weights @ v
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        o = o.transpose(2, 3).reshape(B, N, L, self.heads * self.head_dim)
        out = self.o_proj(torch.sigmoid(self.gate(m)) * o)
        return out.transpose(1, 2) if self.axis == "column" else out


class OuterProductMean(nn.Module):
    """Pair update from the MSA (Algorithm 10): o_ij = Linear(flatten(mean_s a_si ⊗ b_sj))."""

    def __init__(self, dim, hidden, out):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.a_proj = nn.Linear(dim, hidden)
        self.b_proj = nn.Linear(dim, hidden)
        self.o_proj = nn.Linear(hidden * hidden, out)

    def forward(self, msa):
        m = self.norm(msa)  # (B, S, R, d)
        a, b = self.a_proj(m), self.b_proj(m)  # (B, S, R, c)
        outer = torch.einsum("bsic,bsjd->bijcd", a, b) / msa.shape[1]  # (B, R, R, c, c)
        return self.o_proj(outer.flatten(-2))


class TriangleUpdate(nn.Module):
    """Triangular multiplicative update of the pair representation (Algorithms 11 and 12): edge ij
    is updated from the edges ik and jk (`outgoing`) or ki and kj (`incoming`)."""

    def __init__(self, dim, hidden, mode="outgoing"):
        super().__init__()
        self.mode = mode
        self.norm = nn.LayerNorm(dim)
        self.a_gate, self.a_proj = nn.Linear(dim, hidden), nn.Linear(dim, hidden)
        self.b_gate, self.b_proj = nn.Linear(dim, hidden), nn.Linear(dim, hidden)
        self.gate = nn.Linear(dim, dim)
        self.out_norm = nn.LayerNorm(hidden)
        self.o_proj = nn.Linear(hidden, dim)

    def forward(self, pair):
        z = self.norm(pair)  # (B, R, R, c)
        a = torch.sigmoid(self.a_gate(z)) * self.a_proj(z)
        b = torch.sigmoid(self.b_gate(z)) * self.b_proj(z)
        equation = "bikc,bjkc->bijc" if self.mode == "outgoing" else "bkic,bkjc->bijc"
        update = torch.einsum(equation, a, b)
        return torch.sigmoid(self.gate(z)) * self.o_proj(self.out_norm(update))


def _msa(value, what: str = "an MSA") -> int:
    if value.rank != 3:
        raise ShapeError(f"expects {what} [rows, cols, d], got {value}")
    return known_size(value.dims[2], f"the channel (last) dimension of {what}")


def _head_dim(d: int, a) -> int:
    if a.head_dim is not None:
        return a.head_dim
    if d % a.heads:
        raise ShapeError(f"heads = {a.heads} must divide the width {d}, or give head_dim")
    return d // a.heads


def _axial(axis: str) -> BlockSpec:
    def pair_dim(inputs, a):
        if axis != "row" or a.bias is None:
            return None
        pair, cols = inputs[1], inputs[0].dims[1]
        if pair.rank != 3 or pair.dims[0] != cols or pair.dims[1] != cols:
            raise ShapeError(
                f"bias = {a.bias.node}: the pair representation must be [cols, cols, c] with cols = "
                f"{cols} (the MSA's residues), got {pair}"
            )
        return known_size(pair.dims[2], "the pair representation's channels")

    def shape(inputs, a):
        d = _msa(inputs[0])
        _head_dim(d, a)
        pair_dim(inputs, a)
        return inputs[0]

    def params(inputs, a):
        d, pair = _msa(inputs[0]), pair_dim(inputs, a)
        inner = a.heads * _head_dim(d, a)
        own = 2 * d + 3 * d * inner + (d * inner + inner) + (inner * d + d)
        return own + (2 * pair + pair * a.heads if pair else 0)

    def flops(inputs, out, a):
        rows, cols, d = inputs[0].dims
        lines, length = (rows, cols) if axis == "row" else (cols, rows)
        inner = a.heads * _head_dim(_msa(inputs[0]), a)
        return rows * cols * 2 * 5 * d * inner + lines * 4 * length * length * inner

    def module(inputs, a):
        d = _msa(inputs[0])
        return Construct(
            AxialAttention,
            {"dim": d, "heads": a.heads, "head_dim": _head_dim(d, a), "axis": axis, "pair_dim": pair_dim(inputs, a)},
        )

    args = [
        Arg("heads", "int", doc="attention heads", low=1),
        Arg("head_dim", "int", None, "width per head (default: d / heads; AlphaFold uses 32)", low=1),
    ]
    if axis == "row":
        args.insert(1, Arg("bias", "tensor", None, "a bound pair representation [cols, cols, c] biasing the logits"))
    what = (
        "along the residues of each sequence (each row), optionally biased by the pair representation (Algorithm 7)"
        if axis == "row"
        else "along the sequences of each residue column (Algorithm 8)"
    )
    return block(
        f"{axis}_attention",
        family="attention",
        args=tuple(args),
        params=params,
        flops=flops,
        module=module,
        example=("[3, 5, 16]", f"{axis}_attention(4)"),
        doc=f"Evoformer gated self-attention {what} (Jumper et al. 2021): layer norm, q/k/v without bias, a "
        "sigmoid gate, an output projection; attention maps on request.\n\nShapes: [rows, cols, d] -> "
        "[rows, cols, d]" + (", bias [cols, cols, c]." if axis == "row" else "."),
    )(shape)


_axial("row")
_axial("column")


def _opm_width(inputs) -> int:
    return _msa(inputs[0])


def _opm_shape(inputs, a):
    _opm_width(inputs)
    cols = inputs[0].dims[1]
    return inputs[0].with_dims([cols, cols, a.out])


def _opm_params(inputs, a) -> int:
    d = _opm_width(inputs)
    return 2 * d + 2 * (d * a.hidden + a.hidden) + a.hidden**2 * a.out + a.out


def _opm_flops(inputs, out, a):
    rows, cols, _ = inputs[0].dims
    return 2 * rows * cols * cols * a.hidden**2 + 2 * cols * cols * a.hidden**2 * a.out


block(
    "outer_product_mean",
    family="attention",
    args=(
        Arg("hidden", "int", doc="width c of the two projections (AlphaFold: 32)", low=1),
        Arg("out", "int", doc="channels of the pair representation", low=1),
    ),
    params=_opm_params,
    flops=_opm_flops,
    module=lambda inputs, a: Construct(OuterProductMean, {"dim": _opm_width(inputs), "hidden": a.hidden, "out": a.out}),
    example=("[3, 5, 8]", "outer_product_mean(4, 6)"),
    doc="The Evoformer's outer-product mean (Jumper et al. 2021, Algorithm 10): the MSA updates the pair "
    "representation, o_ij = Linear(mean over sequences of a_si ⊗ b_sj).\n\nShapes: [rows, cols, d] -> "
    "[cols, cols, out].",
)(_opm_shape)


def _pair(inputs) -> int:
    z = inputs[0]
    if z.rank != 3 or z.dims[0] != z.dims[1]:
        raise ShapeError(f"expects a pair representation [n, n, c], got {z}")
    return known_size(z.dims[2], "the pair representation's channels")


def _triangle_shape(inputs, a):
    _pair(inputs)
    return inputs[0]


def _triangle_params(inputs, a) -> int:
    c, h = _pair(inputs), a.hidden
    return 2 * c + 4 * (c * h + h) + (c * c + c) + 2 * h + (h * c + c)


def _triangle_flops(inputs, out, a):
    n, c, h = inputs[0].dims[0], _pair(inputs), a.hidden
    return 2 * n**3 * h + 2 * n * n * (5 * c * h + c * c)


block(
    "triangle_update",
    family="attention",
    args=(
        Arg("hidden", "int", doc="width of the two edge projections (AlphaFold: 128)", low=1),
        Arg(
            "mode",
            "enum",
            "outgoing",
            "`outgoing` (edges ik, jk) or `incoming` (edges ki, kj)",
            choices=("outgoing", "incoming"),
        ),
    ),
    params=_triangle_params,
    flops=_triangle_flops,
    module=lambda inputs, a: Construct(TriangleUpdate, {"dim": _pair(inputs), "hidden": a.hidden, "mode": a.mode}),
    example=("[5, 5, 8]", "triangle_update(4, mode = incoming)"),
    doc="The Evoformer's triangular multiplicative update (Jumper et al. 2021, Algorithms 11–12): edge ij "
    "gathers the products of gated projections of edges ik and jk (outgoing) or ki and kj (incoming).\n\n"
    "Shapes: [n, n, c] -> [n, n, c].",
)(_triangle_shape)
