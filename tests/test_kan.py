"""KAN layers: B-spline bases, the layout, the learned functions, fitting, grid updates."""

import math

import pytest
import torch

from cramnet.blocks.kan import KANLayer
from cramnet.compiler import check_spec, compile_spec


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_bases_form_a_partition_of_unity_inside_the_grid(order):
    layer = KANLayer(3, 2, grid=5, order=order)
    x = torch.rand(200, 3) * 1.998 - 0.999
    bases = layer.bases(x)
    assert bases.shape == (200, 3, 5 + order)
    torch.testing.assert_close(bases.sum(-1), torch.ones(200, 3))
    assert torch.all(bases >= 0)
    assert torch.all((bases > 0).sum(-1) <= order + 1)  # local support


def test_cubic_bases_match_the_closed_form():
    layer = KANLayer(1, 1, grid=4, order=3, low=0.0, high=4.0)  # knots at integers -3 … 7
    x = torch.tensor([[0.5], [1.0], [2.25]])
    bases = layer.bases(x)[:, 0]

    def cardinal(t):  # the uniform cubic B-spline on [0, 4]
        if 0 <= t < 1:
            return t**3 / 6
        if 1 <= t < 2:
            return (-3 * t**3 + 12 * t**2 - 12 * t + 4) / 6
        if 2 <= t < 3:
            return (3 * t**3 - 24 * t**2 + 60 * t - 44) / 6
        if 3 <= t < 4:
            return (4 - t) ** 3 / 6
        return 0.0

    expected = torch.tensor([[cardinal(float(v) - (j - 3)) for j in range(7)] for v in x[:, 0]])
    torch.testing.assert_close(bases, expected)


def test_layout_counts_and_forward_formula():
    checked = check_spec("model m {\n input x: [3]\n x -> kan(2, grid = 5, order = 3) as y\n output y\n}\n")
    assert checked.summary().params == 2 * 3 * (5 + 3 + 2)
    model = checked.build(seed=0)
    layer = model.y
    assert sum(p.numel() for p in model.parameters()) == 60
    x = torch.rand(4, 3) * 2 - 1
    spline = torch.einsum("nij,oij->no", layer.bases(x), layer.spline_weight * layer.spline_scaler[..., None])
    torch.testing.assert_close(model(x), torch.nn.functional.silu(x) @ layer.base_weight.T + spline)


def test_curves_are_the_edge_functions_that_sum_to_the_output():
    layer = KANLayer(2, 3, grid=4)
    xs, ys = layer.curves(points=11)
    assert xs.shape == (11,) and ys.shape == (3, 2, 11)
    point = torch.stack([xs, xs.flip(0)], dim=1)  # (11, 2): input 0 follows xs, input 1 the reverse
    total = ys[:, 0, :] + ys[:, 1, :].flip(-1)
    torch.testing.assert_close(layer(point).T, total, rtol=1e-5, atol=1e-5)


def test_grid_update_keeps_the_functions():
    torch.manual_seed(0)
    layer = KANLayer(2, 2, grid=6)
    x = torch.randn(500, 2) * 0.4
    before = layer(x)
    layer.update_grid(x)
    torch.testing.assert_close(layer(x), before, rtol=0.05, atol=0.02)


def test_one_input_one_output_kan_fits_a_smooth_function():
    torch.manual_seed(0)
    model = compile_spec("model m {\n input x: [1]\n x -> kan(1, grid = 8) as y\n output y\n}\n", seed=0)
    x = torch.linspace(-1, 1, 200)[:, None]
    target = torch.sin(math.pi * x)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = (model(x) - target).square().mean()
        loss.backward()
        optimizer.step()
    assert loss.item() < 1e-3
