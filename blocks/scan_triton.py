"""The selective scan as fused Triton kernels: each program owns a block of channels of one sequence
and walks the time axis with the [channels, state] state held in registers, so the [B, L, E, N]
tensors of the recurrence never exist in memory (Gu & Dao 2023, §3.3.2).

    h_t = a_t ⊙ h_{t-1} + b_t,   a_t = exp(Δ_t A),   b_t = Δ_t u_t B_t,   y_t = h_t C_t + D u_t

Forward stores the state at the start of every chunk of `CHUNK` steps (1/CHUNK of the full
states). Backward walks the chunks from the last: it recomputes the chunk's states from its stored
start into a small scratch buffer, then runs the reverse recurrence g_t = dy_t C_tᵀ + a_{t+1} ⊙ g_{t+1}
(g_t = ∂loss/∂h_t) down the chunk, giving du, dΔ, dA, dB, dC and dD with the state in registers.
dB, dC (summed over channels) and dA, dD (summed over the batch) leave as per-program partial sums,
added up by PyTorch — no atomics, so the result is deterministic. Runs on CUDA; with
TRITON_INTERPRET=1 set before import, on the CPU for tests.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

CHUNK = 64  # steps between stored states: backward recomputes at most this many
BLOCK_E = 32  # channels per program


@triton.jit
def _scan_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, y_ptr, h_ptr, L, E, chunks,
    N: tl.constexpr, BLOCK_E: tl.constexpr, CHUNK: tl.constexpr,
):  # fmt: skip
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
        if t % CHUNK == 0:  # the state before each chunk, for the backward pass: (B, chunks, E, N)
            stored = ((batch * chunks + t // CHUNK) * E + channels[:, None]) * N + states[None, :]
            tl.store(h_ptr + stored, h, mask=valid[:, None])
        u = tl.load(u_ptr + row + t * E + channels, mask=valid, other=0.0).to(tl.float32)
        delta = tl.load(delta_ptr + row + t * E + channels, mask=valid, other=0.0).to(tl.float32)
        B = tl.load(B_ptr + state_row + t * N + states).to(tl.float32)  # (N,)
        C = tl.load(C_ptr + state_row + t * N + states).to(tl.float32)
        h = tl.exp(delta[:, None] * A) * h + (delta * u)[:, None] * B[None, :]
        y = tl.sum(h * C[None, :], axis=1) + D * u
        tl.store(y_ptr + row + t * E + channels, y, mask=valid)


@triton.jit
def _scan_backward_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, dy_ptr, h_ptr, scratch_ptr,
    du_ptr, ddelta_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, L, E, chunks, blocks,
    N: tl.constexpr, BLOCK_E: tl.constexpr, CHUNK: tl.constexpr,
):  # fmt: skip
    batch, block = tl.program_id(0), tl.program_id(1)
    local = tl.arange(0, BLOCK_E)
    channels = block * BLOCK_E + local
    states = tl.arange(0, N)
    valid = channels < E
    tile = local[:, None] * N + states[None, :]  # (BLOCK_E, N) offsets within one scratch state
    A = tl.load(A_ptr + channels[:, None] * N + states[None, :], mask=valid[:, None], other=0.0)
    D = tl.load(D_ptr + channels, mask=valid, other=0.0)
    row, state_row = batch * L * E, batch * L * N
    scratch = scratch_ptr + (batch * blocks + block) * (CHUNK + 1) * BLOCK_E * N  # this program's
    carry = tl.zeros((BLOCK_E, N), dtype=tl.float32)  # a_{t+1} ⊙ g_{t+1}
    dA = tl.zeros((BLOCK_E, N), dtype=tl.float32)
    dD = tl.zeros((BLOCK_E,), dtype=tl.float32)
    for back in range(chunks):
        chunk = chunks - 1 - back
        start = chunk * CHUNK
        # the chunk's states, recomputed from the one stored before it: scratch[k] is h_{start+k-1}
        h = tl.load(h_ptr + ((batch * chunks + chunk) * E + channels[:, None]) * N + states[None, :],
                    mask=valid[:, None], other=0.0)  # fmt: skip
        tl.store(scratch + tile, h)
        for k in range(CHUNK):
            t = start + k
            # past the end a step is the identity: Δ = 0 gives a = 1, b = 0
            loads, state_loads = valid & (local * 0 + t < L), states * 0 + t < L
            u = tl.load(u_ptr + row + t * E + channels, mask=loads, other=0.0).to(tl.float32)
            delta = tl.load(delta_ptr + row + t * E + channels, mask=loads, other=0.0).to(tl.float32)
            B = tl.load(B_ptr + state_row + t * N + states, mask=state_loads, other=0.0).to(tl.float32)
            h = tl.exp(delta[:, None] * A) * h + (delta * u)[:, None] * B[None, :]
            tl.store(scratch + (k + 1) * BLOCK_E * N + tile, h)
        for j in range(CHUNK):  # down the chunk: the reverse recurrence
            k = CHUNK - 1 - j
            t = start + k
            loads, state_loads = valid & (local * 0 + t < L), states * 0 + t < L
            u = tl.load(u_ptr + row + t * E + channels, mask=loads, other=0.0).to(tl.float32)
            delta = tl.load(delta_ptr + row + t * E + channels, mask=loads, other=0.0).to(tl.float32)
            dy = tl.load(dy_ptr + row + t * E + channels, mask=loads, other=0.0).to(tl.float32)
            B = tl.load(B_ptr + state_row + t * N + states, mask=state_loads, other=0.0).to(tl.float32)
            C = tl.load(C_ptr + state_row + t * N + states, mask=state_loads, other=0.0).to(tl.float32)
            h_prev = tl.load(scratch + k * BLOCK_E * N + tile)
            h_now = tl.load(scratch + (k + 1) * BLOCK_E * N + tile)
            a = tl.exp(delta[:, None] * A)
            g = dy[:, None] * C[None, :] + carry  # ∂loss/∂h_t
            dC = tl.sum(tl.where(valid[:, None], dy[:, None] * h_now, 0.0), axis=0)  # (N,)
            da = g * h_prev * a  # through a_t = exp(Δ_t A)
            gB = tl.sum(g * B[None, :], axis=1)  # (BLOCK_E,)
            ddelta = tl.sum(da * A, axis=1) + gB * u
            du = gB * delta + dy * D
            dB = tl.sum(tl.where(valid[:, None], g * (delta * u)[:, None], 0.0), axis=0)
            dA += da * delta[:, None]
            dD += dy * u
            tl.store(du_ptr + row + t * E + channels, du, mask=loads)
            tl.store(ddelta_ptr + row + t * E + channels, ddelta, mask=loads)
            partial = ((batch * L + t) * blocks + block) * N + states  # (B, L, blocks, N)
            tl.store(dB_ptr + partial, dB, mask=state_loads)
            tl.store(dC_ptr + partial, dC, mask=state_loads)
            carry = a * g
    tl.store(dA_ptr + (batch * E + channels[:, None]) * N + states[None, :], dA, mask=valid[:, None])
    tl.store(dD_ptr + batch * E + channels, dD, mask=valid)


def _check(N: int) -> None:
    if N & (N - 1):
        raise ValueError(f"the Triton scan needs a power-of-two state size, got {N}")


def _scan_forward(u, delta, A, B, C, D):
    """y, and the states stored before each chunk (B, chunks, E, N) for the backward pass."""
    batch, L, E = u.shape
    N = A.shape[1]
    _check(N)
    u, delta, B, C = (t.contiguous() for t in (u, delta, B, C))
    chunks = triton.cdiv(L, CHUNK)
    y = torch.empty(batch, L, E, device=u.device, dtype=torch.float32)
    h = torch.empty(batch, chunks, E, N, device=u.device, dtype=torch.float32)
    grid = (batch, triton.cdiv(E, BLOCK_E))
    A32, D32 = A.float().contiguous(), D.float().contiguous()
    _scan_kernel[grid](u, delta, A32, B, C, D32, y, h, L, E, chunks, N=N, BLOCK_E=BLOCK_E, CHUNK=CHUNK)
    return y.to(u.dtype), h


def _scan_backward(dy, u, delta, A, B, C, D, h):
    batch, L, E = u.shape
    N = A.shape[1]
    chunks, blocks = h.shape[1], triton.cdiv(E, BLOCK_E)
    device, f32 = u.device, torch.float32
    u, delta, B, C, dy = (t.contiguous() for t in (u, delta, B, C, dy))
    scratch = torch.empty(batch * blocks * (CHUNK + 1) * BLOCK_E * N, device=device, dtype=f32)
    du, ddelta = torch.empty(batch, L, E, device=device, dtype=f32), torch.empty(batch, L, E, device=device, dtype=f32)
    dA, dD = torch.empty(batch, E, N, device=device, dtype=f32), torch.empty(batch, E, device=device, dtype=f32)
    dB, dC = (torch.empty(batch, L, blocks, N, device=device, dtype=f32) for _ in range(2))
    A32, D32 = A.float().contiguous(), D.float().contiguous()
    _scan_backward_kernel[(batch, blocks)](
        u, delta, A32, B, C, D32, dy, h, scratch, du, ddelta, dA, dB, dC, dD, L, E, chunks, blocks,
        N=N, BLOCK_E=BLOCK_E, CHUNK=CHUNK,
    )  # fmt: skip
    return (
        du.to(u.dtype),
        ddelta.to(delta.dtype),
        dA.sum(0).to(A.dtype),
        dB.sum(2).to(B.dtype),
        dC.sum(2).to(C.dtype),
        dD.sum(0).to(D.dtype),
    )


class _TritonScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D):
        y, h = _scan_forward(u, delta, A, B, C, D)
        ctx.save_for_backward(u, delta, A, B, C, D, h)
        return y

    @staticmethod
    def backward(ctx, grad):
        u, delta, A, B, C, D, h = ctx.saved_tensors
        grads = _scan_backward(grad, u, delta, A, B, C, D, h)
        return tuple(g if needed else None for g, needed in zip(grads, ctx.needs_input_grad))


def triton_scan(u, delta, A, B, C, D):
    """y = C · h + D u with h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t; u, Δ: (B, L, E); A: (E, N);
    B, C: (B, L, N); D: (E,)."""
    return _TritonScan.apply(u, delta, A, B, C, D)
