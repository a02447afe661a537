"""Reading a KAN layer as formulas (Liu et al. 2024, "KAN: Kolmogorov-Arnold Networks", §2.5.1):
each learned edge function φ_oi is matched to c·f(a·x + b) + d for f in a small library, the best
match by R² kept, and the layer written as y_o = Σ_i φ_oi(x_i) in its inputs, simplified with sympy.

The fit: for each f, a grid over (a, b) with c and d solved in closed form (least squares on the
design [f(a·x + b), 1]) for every grid point, then the best refined by nonlinear least squares over
(a, b, c, d) (Levenberg–Marquardt). A layer's edges are independent, so each f is fitted to all of
them at once: one matrix product scores the grid against every edge of an input, one batched
Levenberg–Marquardt refines every edge. Where a simpler function leaves little more unexplained than
the best (1 - R² within `SLACK` times the best's, plus `FLOOR`), it is kept instead: sin(a·x + π/2)
with a small a fits x² closely, and x² is the reading a person wants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

SLACK, FLOOR = 1.5, 1e-5  # how much more a simpler function may leave unexplained
FLAT = 1e-2  # an edge whose range is under this fraction of the layer's largest is read as 0

NAN = float("nan")
# the library, simplest first; each maps a·x + b (a float64 tensor) to f of it, NaN outside its domain
LIBRARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "x": lambda u: u,
    "x^2": lambda u: u**2,
    "x^3": lambda u: u**3,
    "abs": torch.abs,
    "sqrt": torch.sqrt,
    "1/x": lambda u: 1 / torch.where(u.abs() > 1e-3, u, NAN),
    "exp": lambda u: torch.exp(u.clamp(max=30)),
    "log": lambda u: torch.log(torch.where(u > 1e-6, u, NAN)),
    "tanh": torch.tanh,
    "sin": torch.sin,
}
# their derivatives, for the refinement's Jacobian
SLOPES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "x": torch.ones_like,
    "x^2": lambda u: 2 * u,
    "x^3": lambda u: 3 * u**2,
    "abs": torch.sign,
    "sqrt": lambda u: 0.5 / torch.sqrt(u),
    "1/x": lambda u: -1 / torch.where(u.abs() > 1e-3, u, NAN) ** 2,
    "exp": lambda u: torch.where(u < 30, torch.exp(u.clamp(max=30)), 0.0),
    "log": lambda u: 1 / torch.where(u > 1e-6, u, NAN),
    "tanh": lambda u: 1 - torch.tanh(u) ** 2,
    "sin": torch.cos,
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
        u = torch.from_numpy(np.asarray(self.a * x + self.b, dtype=np.float64))
        return self.c * LIBRARY[self.function](u).numpy() + self.d


def fit_edge(x: np.ndarray, y: np.ndarray) -> EdgeFit:
    """The library function that fits φ's samples (x, y) best (by R², simpler ones winning near-ties)."""
    return fit_edges(x[None], y[None, None])[0][0]


def fit_edges(x: np.ndarray, y: np.ndarray, advance: Callable[[int], None] | None = None) -> list[list[EdgeFit]]:
    """Every edge's best library function: x (in, points) the inputs' samples, y (out, in, points) the
    edges' values on them; the fits (out, in). Edges are independent, so each function is fitted to all
    of them at once; `advance(edges)` is called after each function."""
    outs, ins, _ = y.shape
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    fits = []  # per function, in LIBRARY order: (out, in, 4) parameters and (out, in) R²
    threads = torch.get_num_threads()
    # one thread: these small ops gain nothing from two, and torch's threads spinning against those
    # of the BLAS that scipy and scikit-learn load made the kan_classifier fits 15 times slower
    torch.set_num_threads(1)
    try:
        for name in LIBRARY:
            fits.append(fit_function(name, x, y))
            if advance is not None:
                advance(outs * ins)
    finally:
        torch.set_num_threads(threads)
    r2 = torch.stack([r2 for _, r2 in fits])  # (functions, out, in)
    # the simplest function leaving at most SLACK times the best's unexplained (plus FLOOR)
    close = 1 - r2 <= SLACK * (1 - r2.max(0).values) + FLOOR
    chosen = close.int().argmax(0)  # the first True: the library runs simplest first
    names = list(LIBRARY)
    return [
        [EdgeFit(names[k], *fits[k][0][o, i].tolist(), float(fits[k][1][o, i])) for i, k in enumerate(row)]
        for o, row in enumerate(chosen.tolist())
    ]


def fit_function(name: str, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """c·f(a·x + b) + d fitted to every edge, x (in, points) and y (out, in, points): a grid over (a, b)
    with closed-form (c, d), then the best grid point refined. The fits' (a, b, c, d) (out, in, 4) and
    R² (out, in); an edge no grid point fits finitely gets c = 0, d = its mean and R² 0."""
    start = _grid_search(name, x, y)  # (out, in, 4), NaN where no grid point is finite
    found = start.isfinite().all(-1)
    params = torch.zeros_like(start)
    params[..., 0] = 1.0
    params[..., 3] = y.mean(-1)
    params[found], cost = _refine(name, start[found], x.expand_as(y)[found], y[found])
    total = ((y - y.mean(-1, keepdim=True)) ** 2).sum(-1)[found]  # (edges,)
    r2 = torch.zeros(y.shape[:2], dtype=y.dtype)
    r2[found] = torch.where(total > 0, 1 - cost / torch.where(total > 0, total, 1.0), 1.0)
    return params, r2


def _grid_search(name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The best (a, b, c, d) on the (a, b) grid for every edge, (out, in, 4): at a grid point the
    least-squares c and d leave Σ(y - ȳ)² - cov(v, y)² / var(v) unexplained (v = f(a·x + b)), so one
    product of the grid's values with the centred edges scores every grid point against every edge."""
    f = LIBRARY[name]
    # a = 1 loses nothing for these: c and d absorb it (b stays for the power)
    grid_a = torch.ones(1, dtype=torch.float64) if name in ("x", "x^2", "x^3", "abs") else torch.from_numpy(_A)
    grid_b = torch.from_numpy(_B) if name != "x" else torch.zeros(1, dtype=torch.float64)
    a, b = (v.reshape(-1, 1) for v in torch.meshgrid(grid_a, grid_b, indexing="ij"))  # (grid, 1)
    centred_y = y - y.mean(-1, keepdim=True)  # (out, in, points)
    best = torch.full((*y.shape[:2], 4), NAN, dtype=y.dtype)
    for i in range(x.shape[0]):
        values = f(a * x[i] + b)  # (grid, points)
        centred = values - values.mean(-1, keepdim=True)
        var = (centred**2).sum(-1)
        ok = var.isfinite() & (var > 1e-12)  # a NaN or ∞ anywhere makes var one
        if not ok.any():
            continue
        centred, var, values = centred[ok], var[ok], values[ok]
        cov = centred_y[:, i] @ centred.T  # (out, grid)
        unexplained = (centred_y[:, i] ** 2).sum(-1, keepdim=True) - cov**2 / var
        j = unexplained.argmin(-1)  # (out,)
        c = cov.gather(1, j[:, None])[:, 0] / var[j]
        d = y[:, i].mean(-1) - c * values[j].mean(-1)
        best[:, i] = torch.stack([a[ok][j, 0], b[ok][j, 0], c, d], -1)
    return best


def _refine(name: str, p: torch.Tensor, x: torch.Tensor, y: torch.Tensor, steps: int = 100, ftol: float = 1e-8):
    """Levenberg–Marquardt on Σ(c·f(a·x + b) + d - y)² from each start p (edges, 4), all edges at once:
    each step solves (JᵀJ + λ·diag JᵀJ) δ = -Jᵀr and is kept only where it lowers the cost (a step
    leaving f's domain costs ∞), λ shrinking on success and growing on failure; an edge stops when a
    kept step lowers its cost by under `ftol` of it. The refined (a, b, c, d) and their costs."""
    f, slope = LIBRARY[name], SLOPES[name]

    def cost(q, x, y):
        total = ((q[:, 2:3] * f(q[:, 0:1] * x + q[:, 1:2]) + q[:, 3:4] - y) ** 2).sum(-1)
        return torch.where(total.isfinite(), total, torch.inf)

    p, costs = p.clone(), cost(p, x, y)
    damping = torch.full((len(p),), 1e-3, dtype=p.dtype)
    active = costs.isfinite()
    for _ in range(steps):
        index = active.nonzero()[:, 0]
        if len(index) == 0:
            break
        q, xa, ya, lam = p[index], x[index], y[index], damping[index]
        u = q[:, 0:1] * xa + q[:, 1:2]
        v, dv = f(u), slope(u)
        r = q[:, 2:3] * v + q[:, 3:4] - ya  # (edges, points)
        jacobian = torch.stack([q[:, 2:3] * dv * xa, q[:, 2:3] * dv, v, torch.ones_like(v)], -1)  # (edges, points, 4)
        jacobian = torch.nan_to_num(jacobian, nan=0.0, posinf=0.0, neginf=0.0)  # f's edge: no pull that way
        jtj = jacobian.transpose(1, 2) @ jacobian  # (edges, 4, 4)
        diagonal = jtj.diagonal(dim1=1, dim2=2)
        scale = torch.maximum(diagonal, 1e-12 * diagonal.amax(-1, keepdim=True) + 1e-300)  # a still parameter
        gradient = (jacobian.transpose(1, 2) @ torch.nan_to_num(r)[..., None])[..., 0]  # (edges, 4)
        step, info = torch.linalg.solve_ex(jtj + torch.diag_embed(lam[:, None] * scale), -gradient)
        trial = q + step
        trial_cost = torch.where(info == 0, cost(trial, xa, ya), torch.inf)  # parameters run off to ∞
        kept = trial_cost < costs[index]
        converged = kept & (costs[index] - trial_cost <= ftol * costs[index])
        p[index[kept]] = trial[kept]
        costs[index[kept]] = trial_cost[kept]
        damping[index] = torch.where(kept, lam / 3, lam * 2)
        active[index[converged | (lam > 1e10)]] = False
    return p, costs


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


def layer_formulas(
    layer, ranges: np.ndarray, advance: Callable[[int], None] | None = None
) -> tuple[LayerFormulas, np.ndarray, np.ndarray]:
    """Fit every edge of a KAN layer on its inputs' `ranges` (in, 2); also the samples fitted.
    `advance(edges)` is told the progress: each edge is fitted once per library function."""
    xs, ys = edge_samples(layer, ranges)
    spread = ys.max(-1) - ys.min(-1)
    largest = max(float(spread.max()), 1e-12)
    edges = fit_edges(xs, ys, advance)
    for o, i in zip(*np.nonzero(spread < FLAT * largest)):  # read as a constant: a pruned edge in the paper's terms
        mean = float(ys[o, i].mean())
        edges[o][i] = EdgeFit("0" if abs(mean) < FLAT * largest else "constant", 0, 0, 0, mean, 1.0)
    return LayerFormulas(edges, [simplified(row) for row in edges], ranges), xs, ys


def four_digits(value: float):
    """`value` as a sympy number of 4 significant digits; ±1 as the integer, so 1.0*x reads x."""
    import sympy

    shown = float(f"{value:.4g}")
    return sympy.Integer(int(shown)) if abs(shown) == 1 else sympy.Float(value, 4)


def simplified(row: list[EdgeFit], names: list[str] | None = None, most: int = 8) -> str:
    """Σ_i φ_i(x_i) as one expression (coefficients to 4 significant digits, those under 1e-4 dropped),
    simplified by sympy when it has at most `most` terms (simplify grows costly beyond)."""
    import sympy

    names = names or [f"x_{i + 1}" for i in range(len(row))]
    expression = sympy.Add(*(fit.expression(sympy.Symbol(name)) for fit, name in zip(row, names)))
    rounded = expression.xreplace(
        {n: four_digits(0 if abs(float(n)) < 1e-4 else float(n)) for n in expression.atoms(sympy.Float)}
    )
    terms = sum(fit.function not in ("0", "constant") for fit in row)
    return str(sympy.simplify(rounded) if terms <= most else rounded).replace("**", "^")
