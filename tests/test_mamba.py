"""Mamba: the scans agree, the block is causal, counts match the reference layout."""

import os
import subprocess
import sys

import pytest
import torch

from cramnet.blocks.mamba import Mamba
from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors


def random_scan_inputs(batch, L, E, N, selective=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, L, E, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(batch, L, E, generator=g) - 1)
    A = -torch.exp(torch.randn(E, N, generator=g))
    shape = (batch, L, N) if selective else (E, N)
    B, C = torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)
    return u, delta, A, B, C, torch.randn(E, generator=g)


@pytest.mark.parametrize("L", [1, 5, 16, 17, 50, 100])
@pytest.mark.parametrize("selective", [True, False])
def test_chunked_scan_equals_sequential(L, selective):
    inputs = random_scan_inputs(2, L, 6, 4, selective)
    torch.testing.assert_close(
        Mamba.scan_chunked(*inputs, chunk=16), Mamba.scan_sequential(*inputs), rtol=1e-5, atol=1e-5
    )


def test_chunked_scan_gradients_equal_sequential():
    inputs = [t.requires_grad_() for t in random_scan_inputs(2, 37, 5, 4)]
    weights = torch.randn(2, 37, 5)
    grads_chunked = torch.autograd.grad((Mamba.scan_chunked(*inputs, chunk=8) * weights).sum(), inputs)
    grads_sequential = torch.autograd.grad((Mamba.scan_sequential(*inputs) * weights).sum(), inputs)
    for a, b in zip(grads_chunked, grads_sequential):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


MODEL = "model m {{\n input x: [seq, 16]\n x -> mamba(8, {args}) as y\n output y\n}}\n"


@pytest.mark.parametrize("args", ["scan = sequential", "scan = chunked, chunk = 4", "selective = false"])
def test_mamba_block_is_causal(args):
    model = compile_spec(MODEL.format(args=args), seed=0)
    x = torch.randn(2, 11, 16)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 5, 16)
    torch.testing.assert_close(model(x)[:, :6], model(changed)[:, :6])
    assert not torch.allclose(model(x)[:, 6:], model(changed)[:, 6:])


def test_scan_paths_agree_inside_the_block():
    sequential = compile_spec(MODEL.format(args="scan = sequential"), seed=0)
    chunked = compile_spec(MODEL.format(args="scan = chunked, chunk = 4"), seed=0)
    chunked.load_state_dict(sequential.state_dict())
    x = torch.randn(2, 13, 16)
    torch.testing.assert_close(chunked(x), sequential(x), rtol=1e-5, atol=1e-5)


def test_padding_leaves_real_positions_unchanged():
    model = compile_spec(MODEL.format(args="chunk = 4"), seed=0)
    x = torch.randn(1, 6, 16)
    padded = torch.cat([x, torch.randn(1, 3, 16)], dim=1)
    mask = torch.tensor([[True] * 6 + [False] * 3])
    torch.testing.assert_close(model(padded, x_mask=mask)[:, :6], model(x), rtol=1e-5, atol=1e-6)


def test_reference_layout_and_counts():
    model = compile_spec(MODEL.format(args="expand = 2, conv = 4"), seed=0)
    m = model.y
    d, inner, dt_rank = 16, 32, 1
    assert m.in_proj.weight.shape == (2 * inner, d) and m.in_proj.bias is None
    assert m.conv1d.weight.shape == (inner, 1, 4) and m.conv1d.bias.shape == (inner,)
    assert m.x_proj.weight.shape == (dt_rank + 16, inner) and m.x_proj.bias is None
    assert m.dt_proj.weight.shape == (inner, dt_rank) and m.dt_proj.bias.shape == (inner,)
    assert m.A_log.shape == (inner, 8) and m.D.shape == (inner,)
    assert m.out_proj.weight.shape == (d, inner) and m.out_proj.bias is None
    for args in ("expand = 2", "selective = false"):
        checked = check_spec(MODEL.format(args=args))
        assert checked.summary().params == sum(p.numel() for p in checked.build().parameters())
    assert torch.all(torch.nn.functional.softplus(m.dt_proj.bias) >= 1e-3 - 1e-6)


KERNEL_CHECK = """
import torch
from cramnet.blocks.mamba import Mamba
from cramnet.blocks.scan_triton import triton_scan
from tests.test_mamba import random_scan_inputs
for L in (1, 7, 70):  # 70 steps: two chunks of the backward pass, the second partly past the end
    inputs = [t.requires_grad_() for t in random_scan_inputs(2, L, 40, 4)]  # 40 channels: two blocks of 32
    fused, reference = triton_scan(*inputs), Mamba.scan_sequential(*inputs)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(fused)
    for a, b in zip(torch.autograd.grad((fused * weights).sum(), inputs),
                    torch.autograd.grad((reference * weights).sum(), inputs)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
print("ok")
"""


@pytest.mark.slow  # the interpreter runs the kernels' loops in Python: ~10 s of CPU
@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the compiled kernel is tested instead (below)")
def test_triton_kernels_forward_and_backward_in_the_interpreter():
    # Triton 3.9's interpreter runs it; 3.6's (the GPU image's) fails inside its own __index__ shim,
    # while the compiled kernel passes there
    pytest.importorskip("triton")
    environment = {**os.environ, "TRITON_INTERPRET": "1"}  # must be set before triton is imported
    result = subprocess.run([sys.executable, "-c", KERNEL_CHECK], capture_output=True, text=True, env=environment)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the fused kernel runs on a CUDA GPU")
def test_triton_kernel_on_the_gpu_equals_the_reference_with_gradients():
    from cramnet.blocks.scan_triton import triton_scan

    inputs = [t.cuda().requires_grad_() for t in random_scan_inputs(2, 300, 100, 16)]
    fused = triton_scan(*inputs)
    reference = Mamba.scan_sequential(*inputs)
    torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-4)
    weights = torch.randn_like(fused)
    for a, b in zip(
        torch.autograd.grad((fused * weights).sum(), inputs), torch.autograd.grad((reference * weights).sum(), inputs)
    ):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    model = compile_spec(MODEL.format(args="expand = 2"), seed=0).cuda()
    assert model.y.selective_scan.__func__ is Mamba.selective_scan and model.y.fused_scan() is not None
    x = torch.randn(2, 50, 16, device="cuda")
    model.y.scan = "auto"
    auto = model(x)
    model.y.scan = "sequential"
    torch.testing.assert_close(auto, model(x), rtol=1e-4, atol=1e-4)


def test_the_triton_path_is_refused_where_the_kernel_cannot_run():
    for args in ("scan = triton, selective = false", "state = 6, scan = triton"):
        with pytest.raises(SpecErrors) as failure:
            check_spec(MODEL.format(args=args).replace("mamba(8, ", "mamba("))
        assert "scan = triton needs" in failure.value.errors[0].message
