"""Reading a KAN layer as formulas (Liu et al. 2024, "KAN: Kolmogorov-Arnold Networks", §2.5.1):
each learned edge function φ_oi is matched to c·f(a·x + b) + d for f in a small library, the best
match by R² kept, and the layer written as y_o = Σ_i φ_oi(x_i) in its inputs, simplified with sympy.

The fit: for each f, a grid over (a, b) with c and d solved in closed form (least squares on the
design [f(a·x + b), 1]) for every grid point, then the best refined by nonlinear least squares over
(a, b, c, d). Where a simpler function leaves little more unexplained than the best (1 - R² within
`SLACK` times the best's, plus `FLOOR`), it is kept instead: sin(a·x + π/2) with a small a fits x²
closely, and x² is the reading a person wants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SLACK, FLOOR = 1.5, 1e-5  # how much more a simpler function may leave unexplained
FLAT = 1e-2  # an edge whose range is under this fraction of the layer's largest is read as 0

# the library, simplest first; each maps a·x + b (an array) to f of it, NaN outside its domain
LIBRARY: dict[str, object] = {
    "x": lambda u: u,
    "x^2": lambda u: u**2,
    "x^3": lambda u: u**3,
    "abs": np.abs,
    "sqrt": lambda u: np.sqrt(np.where(u >= 0, u, np.nan)),
    "1/x": lambda u: 1 / np.where(np.abs(u) > 1e-3, u, np.nan),
    "exp": lambda u: np.exp(np.clip(u, None, 30)),
    "log": lambda u: np.log(np.where(u > 1e-6, u, np.nan)),
    "tanh": np.tanh,
    "sin": np.sin,
}
_A = np.concatenate([-np.geomspace(10, 0.1, 24), np.geomspace(0.1, 10, 24)])
_B = np.linspace(-6, 6, 49)


@dataclass
class EdgeFit:
    """φ(x) ≈ c·f(a·x + b) + d on the inputs' range; `r2` is the fit's R² there."""

    function: str  # a LIBRARY key, or "0" for an edge read as zero, "constant" for a flat one
    a: float
    b: float
    c: float
    d: float
    r2: float

    def expression(self, x):
        """The fit as a sympy expression in the symbol `x`."""
        import sympy

        if self.function in ("0", "constant"):
            return sympy.Float(self.d)
        u = sympy.Float(self.a) * x + sympy.Float(self.b)
        functions = {
            "x": lambda v: v,
            "x^2": lambda v: v**2,
            "x^3": lambda v: v**3,
            "abs": sympy.Abs,
            "sqrt": sympy.sqrt,
            "1/x": lambda v: 1 / v,
            "exp": sympy.exp,
            "log": sympy.log,
            "tanh": sympy.tanh,
            "sin": sympy.sin,
        }
        return sympy.Float(self.c) * functions[self.function](u) + sympy.Float(self.d)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.function in ("0", "constant"):
            return np.full_like(x, self.d, dtype=np.float64)
        return self.c * LIBRARY[self.function](self.a * x + self.b) + self.d


def r_squared(y: np.ndarray, fit: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - fit) ** 2).sum()) / total if total > 0 else 1.0


def fit_edge(x: np.ndarray, y: np.ndarray) -> EdgeFit:
    """The library function that fits φ's samples (x, y) best (by R², simpler ones winning near-ties)."""
    fits = [fit_function(name, x, y) for name in LIBRARY]  # simplest first
    unexplained = 1 - max(fit.r2 for fit in fits)
    return next(fit for fit in fits if 1 - fit.r2 <= SLACK * unexplained + FLOOR)


def fit_function(name: str, x: np.ndarray, y: np.ndarray) -> EdgeFit:
    """c·f(a·x + b) + d fitted to (x, y): a grid over (a, b), closed-form (c, d), then refined."""
    f = LIBRARY[name]
    if name in ("x", "x^2", "x^3", "abs"):  # a = 1 loses nothing: c and d absorb it (b stays for the power)
        grid_a = np.array([1.0])
    else:
        grid_a = _A
    grid_b = _B if name != "x" else np.array([0.0])
    u = grid_a[:, None, None] * x[None, None, :] + grid_b[None, :, None]  # (a, b, points)
    with np.errstate(all="ignore"):
        values = f(u)
    ok = np.isfinite(values).all(-1)
    mean_v, mean_y = values.mean(-1), y.mean()
    var_v = ((values - mean_v[..., None]) ** 2).sum(-1)
    c = ((values - mean_v[..., None]) * (y - mean_y)).sum(-1) / np.where(var_v > 1e-12, var_v, np.inf)
    d = mean_y - c * mean_v
    residual = ((c[..., None] * values + d[..., None] - y) ** 2).sum(-1)
    residual = np.where(ok & (var_v > 1e-12), residual, np.inf)
    i, j = np.unravel_index(np.argmin(residual), residual.shape)
    if not np.isfinite(residual[i, j]):
        return EdgeFit(name, 1.0, 0.0, 0.0, float(mean_y), 0.0)
    start = EdgeFit(name, float(grid_a[i]), float(grid_b[j]), float(c[i, j]), float(d[i, j]), 0.0)
    refined = _refine(start, x, y)
    with np.errstate(all="ignore"):
        for fit in (refined, start):
            predicted = fit(x)
            if np.isfinite(predicted).all():
                fit.r2 = r_squared(y, predicted)
    return max((refined, start), key=lambda fit: fit.r2)


def _refine(fit: EdgeFit, x: np.ndarray, y: np.ndarray) -> EdgeFit:
    from scipy.optimize import least_squares

    f = LIBRARY[fit.function]

    def residual(p):
        with np.errstate(all="ignore"):
            r = p[2] * f(p[0] * x + p[1]) + p[3] - y
        return np.where(np.isfinite(r), r, 1e6)

    try:
        found = least_squares(residual, [fit.a, fit.b, fit.c, fit.d], max_nfev=100)
    except (ValueError, FloatingPointError):
        return EdgeFit(fit.function, fit.a, fit.b, fit.c, fit.d, 0.0)
    a, b, c, d = (float(v) for v in found.x)
    return EdgeFit(fit.function, a, b, c, d, 0.0)


@dataclass
class LayerFormulas:
    """Every edge's fit, (out, in), and each output as a simplified formula in x_1 … x_n."""

    edges: list[list[EdgeFit]]
    outputs: list[str]
    ranges: np.ndarray  # (in, 2): the inputs' range the fits hold on


def edge_samples(layer, ranges: np.ndarray, points: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """Each edge function φ_oi on its input's range: xs (in, points), ys (out, in, points)."""
    xs = torch.stack([torch.linspace(float(low), float(high), points) for low, high in ranges], dim=1)  # (points, in)
    xs = xs.to(layer.grid.device, layer.grid.dtype)
    with torch.no_grad():
        bases = layer.bases(xs)  # (points, in, G + k)
        spline = torch.einsum("pij,oij->oip", bases, layer.spline_weight) * layer.spline_scaler[..., None]
        ys = layer.base_weight[..., None] * torch.nn.functional.silu(xs.T)[None] + spline
    return xs.T.cpu().double().numpy(), ys.cpu().double().numpy()


def layer_formulas(layer, ranges: np.ndarray) -> tuple[LayerFormulas, np.ndarray, np.ndarray]:
    """Fit every edge of a KAN layer on its inputs' `ranges` (in, 2); also the samples fitted."""
    xs, ys = edge_samples(layer, ranges)
    spread = ys.max(-1) - ys.min(-1)
    largest = max(float(spread.max()), 1e-12)
    edges = []
    for o in range(ys.shape[0]):
        row = []
        for i in range(ys.shape[1]):
            if spread[o, i] < FLAT * largest:  # read as a constant: a pruned edge in the paper's terms
                mean = float(ys[o, i].mean())
                row.append(EdgeFit("0" if abs(mean) < FLAT * largest else "constant", 0, 0, 0, mean, 1.0))
            else:
                row.append(fit_edge(xs[i], ys[o, i]))
        edges.append(row)
    return LayerFormulas(edges, [simplified(row) for row in edges], ranges), xs, ys


def simplified(row: list[EdgeFit], names: list[str] | None = None, most: int = 8) -> str:
    """Σ_i φ_i(x_i) as one expression (coefficients to 4 significant digits, those under 1e-4 dropped),
    simplified by sympy when it has at most `most` terms (simplify grows costly beyond)."""
    import sympy

    names = names or [f"x_{i + 1}" for i in range(len(row))]
    expression = sympy.Add(*(fit.expression(sympy.Symbol(name)) for fit, name in zip(row, names)))
    rounded = expression.xreplace(
        {n: sympy.Float(0 if abs(float(n)) < 1e-4 else float(n), 4) for n in expression.atoms(sympy.Float)}
    )
    terms = sum(fit.function not in ("0", "constant") for fit in row)
    return str(sympy.simplify(rounded) if terms <= most else rounded).replace("**", "^")
