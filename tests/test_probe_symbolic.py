"""`probe --symbolic`: KAN edge functions matched to formulas. The fit finds known functions with
their affine parameters; a small KAN trained on the KAN paper's toy f(x, y) = exp(sin(πx) + y²)
reads back its terms sin(πx) and y²."""

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cramnet.blocks.kan import KANLayer
from cramnet.cli import app
from cramnet.probe.symbolic import edge_samples, fit_edge, fit_edges, simplified
from cramnet.train import apply_sets, defaults, train

runner = CliRunner()
KAN_TOY = """
model kan_toy_small {
    input xy: [2]
    xy -> kan(1, grid = 5) -> kan(1, grid = 5, range = [-2, 2]) as f
    output f
}
"""


@pytest.mark.parametrize(
    "function, make, a",
    [
        ("sin", lambda x: 0.8 * np.sin(math.pi * x) + 0.1, math.pi),
        ("x^2", lambda x: 1.3 * x**2 - 0.2, 1.0),
        ("exp", lambda x: np.exp(2 * x), None),
        ("tanh", lambda x: np.tanh(2 * x), 2.0),
        ("log", lambda x: np.log(x + 1.5), None),
    ],
)
def test_a_known_function_is_found_with_its_parameters(function, make, a):
    x = np.linspace(-1, 1, 101)
    fit = fit_edge(x, make(x))
    assert fit.function == function and fit.r2 > 0.9999
    if a is not None:
        assert abs(fit.a) == pytest.approx(a, rel=1e-2)
    np.testing.assert_allclose(fit(x), make(x), atol=1e-3)


# each edge's function and R² as the fit one edge at a time (scipy's least_squares from the grid's
# best) found them, before the fits were batched; the batched fit must find the same
PINNED = [
    [("1/x", 0.775378), ("x^2", 0.990307), ("x^2", 0.997155)],
    [("x^3", 0.947605), ("sin", 0.999166), ("tanh", 0.99996)],
    [("x^2", 0.770142), ("sin", 0.846642), ("x^2", 0.998992)],
    [("sin", 0.983183), ("sin", 0.901363), ("tanh", 0.999917)],
]


def test_a_layers_edges_fitted_at_once_find_what_one_at_a_time_found():
    torch.manual_seed(0)
    layer = KANLayer(3, 4, grid=5, low=-2.0, high=2.0)
    with torch.no_grad():
        layer.spline_weight.normal_(0, 0.5)  # wiggly edges: near-ties and local minima
    xs, ys = edge_samples(layer, np.array([[-2.0, 2.0], [-1.0, 1.5], [0.0, 1.0]]))
    fits = fit_edges(xs, ys)
    assert [[fit.function for fit in row] for row in fits] == [[name for name, _ in row] for row in PINNED]
    np.testing.assert_allclose(
        [[fit.r2 for fit in row] for row in fits], [[r2 for _, r2 in row] for row in PINNED], atol=2e-6
    )
    for o, row in enumerate(fits):
        for i, fit in enumerate(row):
            residual = ys[o, i] - fit(xs[i])
            assert 1 - (residual**2).sum() / ((ys[o, i] - ys[o, i].mean()) ** 2).sum() == pytest.approx(fit.r2)


def test_a_layer_sums_its_edges_into_one_simplified_formula():
    x = np.linspace(-1, 1, 101)
    row = [fit_edge(x, 0.8 * np.sin(math.pi * x) + 0.1), fit_edge(x, 1.3 * x**2 - 0.2)]
    assert simplified(row) == "1.3*x_2^2 + 0.8*sin(3.142*x_1) - 0.1"


@pytest.mark.slow
def test_a_small_kan_on_the_toy_function_reads_back_sin_pi_x_and_y_squared(tmp_path):
    spec = tmp_path / "kan_toy_small.cram"
    spec.write_text(KAN_TOY)
    sets = [f"out={tmp_path / 'run'}", "data.name=kan_toy", "epochs=30", "threads=1", "device=cpu"]
    run = train(spec, apply_sets(defaults(), sets)).out
    result = runner.invoke(app, ["probe", str(run), "--node", "kan_1", "--symbolic", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p" / "formulas.txt").read_text().splitlines()
    edges = {line.split()[2]: line.split() for line in lines if line.startswith("y_1 <- ")}
    x, y = edges["x_1"], edges["x_2"]
    assert x[3] == "sin" and float(x[6]) > 0.99, x  # sin(πx): its R² on the inputs' range
    assert y[3] == "x^2" and float(y[6]) > 0.99, y  # y²
    assert "3.1" in " ".join(x[9:])  # a ≈ π
    assert any(line.startswith("y_1 = ") for line in lines)
    assert (tmp_path / "p" / "symbolic.png").stat().st_size > 0
    # the outer layer reads kan_1: the chain is one formula in x and y, both inner terms inside it
    result = runner.invoke(app, ["probe", str(run), "--node", "f", "--symbolic", "-o", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "f" / "formulas.txt").read_text().splitlines()
    chain = lines[
        lines.index("# kan_1 → f as formulas in x_i, the i-th value of xy (each layer's fits put in the next)") + 1
    ]
    assert chain.startswith("y_1 = ") and "sin(3.1" in chain and "x_2 + " in chain and ")^2" in chain, chain
    result = runner.invoke(app, ["probe", str(run), "--node", "xy", "--symbolic"])
    assert result.exit_code == 1 and "--symbolic reads a kan layer's functions" in result.output
    assert "the kan layers: kan_1, f" in result.output and "Traceback" not in result.output
