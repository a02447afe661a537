"""The selective scan as one fused Triton kernel: each program owns a block of channels of one
sequence and walks the time axis with the [channels, state] state held in registers, so the
[B, L, E, N] tensors of the recurrence never exist in memory (Gu & Dao 2023, §3.3.2).

Forward only: the backward pass recomputes the scan with the chunked PyTorch path under autograd
(correct, and still never materialising [B, L, E, N] at once; a fused backward kernel is future
work). Runs on CUDA; with TRITON_INTERPRET=1 set before import, on the CPU for tests.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _scan_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, y_ptr, L, E, N: tl.constexpr, BLOCK_E: tl.constexpr):
    batch = tl.program_id(0)
    channels = tl.program_id(1) * BLOCK_E + tl.arange(0, BLOCK_E)  # (BLOCK_E,)
    states = tl.arange(0, N)  # (N,)
    valid = channels < E
    A = tl.load(A_ptr + channels[:, None] * N + states[None, :], mask=valid[:, None], other=0.0)  # (BLOCK_E, N)
    D = tl.load(D_ptr + channels, mask=valid, other=0.0)
    h = tl.zeros((BLOCK_E, N), dtype=tl.float32)
    row = batch * L * E  # u, delta, y: (B, L, E) contiguous
    state_row = batch * L * N  # B, C: (B, L, N) contiguous
    for t in range(L):
        u = tl.load(u_ptr + row + t * E + channels, mask=valid, other=0.0).to(tl.float32)
        delta = tl.load(delta_ptr + row + t * E + channels, mask=valid, other=0.0).to(tl.float32)
        B = tl.load(B_ptr + state_row + t * N + states).to(tl.float32)  # (N,)
        C = tl.load(C_ptr + state_row + t * N + states).to(tl.float32)
        h = tl.exp(delta[:, None] * A) * h + (delta * u)[:, None] * B[None, :]
        y = tl.sum(h * C[None, :], axis=1) + D * u
        tl.store(y_ptr + row + t * E + channels, y, mask=valid)


def _scan_forward(u, delta, A, B, C, D):
    batch, L, E = u.shape
    N = A.shape[1]
    if N & (N - 1):
        raise ValueError(f"the Triton scan needs a power-of-two state size, got {N}")
    u, delta, B, C = (t.contiguous() for t in (u, delta, B, C))
    y = torch.empty(batch, L, E, device=u.device, dtype=torch.float32)
    block = 32
    grid = (batch, triton.cdiv(E, block))
    _scan_kernel[grid](u, delta, A.float().contiguous(), B, C, D.float().contiguous(), y, L, E, N=N, BLOCK_E=block)
    return y.to(u.dtype)


class _TritonScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D):
        ctx.save_for_backward(u, delta, A, B, C, D)
        return _scan_forward(u, delta, A, B, C, D)

    @staticmethod
    def backward(ctx, grad):
        from .mamba import Mamba

        inputs = [t.detach().requires_grad_(t.requires_grad) for t in ctx.saved_tensors]
        with torch.enable_grad():
            y = Mamba.scan_chunked(*inputs)
        wanted = [t for t in inputs if t.requires_grad]
        grads = iter(torch.autograd.grad(y, wanted, grad) if wanted else ())
        return tuple(next(grads) if t.requires_grad else None for t in inputs)


def triton_scan(u, delta, A, B, C, D):
    """y = C · h + D u with h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t; u, Δ: (B, L, E); A: (E, N);
    B, C: (B, L, N); D: (E,)."""
    return _TritonScan.apply(u, delta, A, B, C, D)
