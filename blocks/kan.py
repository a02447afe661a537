"""Kolmogorov–Arnold layers (Liu et al. 2024, "KAN: Kolmogorov–Arnold networks"): every edge from
input i to output o carries a learned univariate function

    φ_oi(x) = w_oi · silu(x) + s_oi · Σ_j c_oij B_j(x)

— a base activation plus a B-spline of order k on a grid of G intervals. The bases are evaluated
once per input and combined with matrix products (the batched formulation of efficient-kan), not
a loop over edges. Parameters per layer: out·in·(G + k + 2) — base weights w, spline coefficients
c (G + k per edge) and spline scales s.

Grid: G equal intervals on `range` (default [-1, 1]), extended by k knots on each side so every
point inside the range has k + 1 non-zero bases that sum to one. Inputs outside the range get only
the base term's help (the splines fade out). `update_grid(x)` moves the knots to the inputs'
quantiles (mixed with a uniform grid) and refits the coefficients so the functions are kept
(the paper's grid update).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import known_size, per_position, positions

KAN = Family("KAN", "#c2e699", "Kolmogorov–Arnold layers with learned B-spline edges.", paper="Liu et al. 2024")


class KANLayer(nn.Module):
    """A B-spline Kolmogorov–Arnold layer; `curves()` returns its learned univariate functions."""

    def __init__(self, in_features, out_features, grid=5, order=3, low=-1.0, high=1.0):
        super().__init__()
        self.in_features, self.out_features, self.grid_size, self.order = in_features, out_features, grid, order
        step = (high - low) / grid
        knots = low + step * torch.arange(-order, grid + order + 1, dtype=torch.float32)  # (G + 2k + 1,)
        self.register_buffer("grid", knots.expand(in_features, -1).contiguous())  # per input, for updates
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.randn(out_features, in_features, grid + order) * 0.1 / grid**0.5)
        self.spline_scaler = nn.Parameter(torch.ones(out_features, in_features))
        nn.init.kaiming_uniform_(self.base_weight, a=5**0.5)

    def bases(self, x):
        """B-spline bases by the Cox–de Boor recursion: (N, in) -> (N, in, G + k)."""
        grid = self.grid  # (in, G + 2k + 1)
        x = x[..., None]
        b = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)  # order 0
        for k in range(1, self.order + 1):
            left = (x - grid[:, : -(k + 1)]) / (grid[:, k:-1] - grid[:, : -(k + 1)]) * b[..., :-1]
            right = (grid[:, k + 1 :] - x) / (grid[:, k + 1 :] - grid[:, 1:-k]) * b[..., 1:]
            b = left + right
        return b

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, self.in_features)
        spline = (self.spline_weight * self.spline_scaler[..., None]).flatten(1)  # (out, in · (G + k))
        y = F.linear(F.silu(x), self.base_weight) + F.linear(self.bases(x).flatten(1), spline)
        return y.reshape(*shape[:-1], self.out_features)

    @torch.no_grad()
    def curves(self, points=101):
        """The learned functions on the grid's range: xs (points,), ys (out, in, points)."""
        low, high = self.grid[:, self.order].min(), self.grid[:, -self.order - 1].max()
        xs = torch.linspace(float(low), float(high), points, device=self.grid.device)
        inputs = xs[:, None].expand(points, self.in_features)
        spline = torch.einsum("pij,oij->oip", self.bases(inputs), self.spline_weight) * self.spline_scaler[..., None]
        return xs, self.base_weight[..., None] * F.silu(xs) + spline

    @torch.no_grad()
    def update_grid(self, x, uniform_fraction=0.02):
        """Move the knots to the quantiles of `x` (N, in), mixed with a uniform grid, and refit the
        spline coefficients by least squares so each φ keeps its values on `x`."""
        x = x.reshape(-1, self.in_features)
        before = torch.einsum("nij,oij->noi", self.bases(x), self.spline_weight)  # (N, out, in)
        ordered = x.sort(dim=0).values
        picks = torch.linspace(0, x.shape[0] - 1, self.grid_size + 1, device=x.device).long()
        adaptive = ordered[picks].T  # (in, G + 1)
        low, high = ordered[0], ordered[-1]
        uniform = low[:, None] + (high - low)[:, None] * torch.linspace(0, 1, self.grid_size + 1, device=x.device)
        inner = uniform_fraction * uniform + (1 - uniform_fraction) * adaptive
        step = ((high - low) / self.grid_size)[:, None]
        k = self.order
        ends = torch.arange(1, k + 1, device=x.device)
        self.grid.copy_(torch.cat([inner[:, :1] - step * ends.flip(0), inner, inner[:, -1:] + step * ends], dim=1))
        bases = self.bases(x).transpose(0, 1)  # (in, N, G + k)
        solution = torch.linalg.lstsq(bases, before.permute(2, 0, 1)).solution  # (in, G + k, out)
        self.spline_weight.copy_(solution.permute(2, 0, 1))


SPLINE_ARGS = (  # shared by `kan` and the graph layer `gkan`
    Arg("grid", "int", 5, "grid intervals G of each B-spline", low=1),
    Arg("order", "int", 3, "spline order k (3: cubic)", low=0),
    Arg("range", "any", [-1, 1], "the grid's interval [low, high] before extension"),
)


def kan_kwargs(features: int, a) -> dict:
    """KANLayer's constructor arguments for a block call with `out` and the spline arguments."""
    low, high = _range(a)
    return {"in_features": features, "out_features": a.out, "grid": a.grid, "order": a.order, "low": low, "high": high}


def _features(inputs) -> int:
    if inputs[0].rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    return known_size(inputs[0].dims[-1], "the input's last dimension")


def _range(a) -> tuple[float, float]:
    low, high = (float(v) for v in a.range) if isinstance(a.range, list) and len(a.range) == 2 else (None, None)
    if low is None or not low < high:
        raise ShapeError(f"range must be [low, high] with low < high, got {a.range}")
    return low, high


@block(
    "kan",
    family="KAN",
    args=(Arg("out", "int", doc="output features", low=1), *SPLINE_ARGS),
    params=lambda inputs, a: a.out * _features(inputs) * (a.grid + a.order + 2),
    flops=lambda inputs, out, a: (
        2 * positions(inputs[0]) * a.out * _features(inputs) * (a.grid + a.order + 1)
        + positions(inputs[0]) * _features(inputs) * (a.grid + a.order) * 6 * (a.order + 1)
    ),
    module=lambda inputs, a: Construct(KANLayer, kan_kwargs(_features(inputs), a)),
    accepts=("float", "graph"),
    decodes=per_position,
    example=("[5, 3]", "kan(4, grid = 4)"),
)
def kan(inputs, a):
    """Kolmogorov–Arnold layer (Liu et al. 2024): a learned univariate function — base activation
    plus B-spline — on every edge, summed per output.

    Shapes: [..., in] -> [..., out].
    """
    _features(inputs)
    _range(a)
    return inputs[0].with_dims(inputs[0].dims[:-1] + (a.out,))
