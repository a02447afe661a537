"""State-space family: the selective SSM block of Mamba (Gu & Dao 2023, "Mamba: linear-time
sequence modeling with selective state spaces"), with the reference `Mamba` block's layout.

    x, z = in_proj(u)                       d -> 2·E (E = expand·d), no bias
    x = silu(causal depthwise conv1d(x))    kernel `conv`, with bias
    Δ, B, C = x_proj(x)                     E -> dt_rank + 2·state, no bias; dt_rank = ⌈d/16⌉
    Δ = softplus(dt_proj(Δ))                dt_rank -> E, with bias
    h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t  A = -exp(A_log), [E, state]
    y_t = C_t · h_t + D x_t, then y · silu(z), out_proj: E -> d, no bias

Three scans give one result: `scan_sequential` (the reference the tests trust), `scan_chunked`
(the CPU path: 2·chunk + L/chunk sequential steps instead of L; chunk ≈ √L), and on a GPU a fused Triton kernel
(blocks/scan_triton.py) that keeps the state on chip. `selective = false` makes Δ, B and C
parameters instead of functions of the input: the time-invariant (S4D-style) SSM the paper
contrasts with, for ablations. With a `Decoding` attached (blocks/decoding.py), the block reads
only the new positions, carrying the convolution's window and the state from the call before
(`step`: the recurrence as Mamba generates, Gu & Dao 2023 §3.5).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import known_size

STATE_SPACE = Family("state space", "#99d8c9", "Selective state-space sequence layers.", paper="Gu & Dao 2023")


class Mamba(nn.Module):
    """The Mamba block (Gu & Dao 2023, Fig. 3 and Algorithm 2), reference parameter layout."""

    decoding = None

    def __init__(self, dim, state=16, expand=2, conv=4, selective=True, scan="auto", chunk=None):
        super().__init__()
        inner, self.dt_rank = expand * dim, math.ceil(dim / 16)
        self.state, self.selective, self.scan, self.chunk = state, selective, scan, chunk
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        self.conv1d = nn.Conv1d(inner, inner, conv, groups=inner, padding=conv - 1)
        dt = torch.exp(torch.rand(inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))  # Δ in [1e-3, 0.1]
        dt_bias = dt + torch.log(-torch.expm1(-dt))  # the inverse of softplus
        if selective:
            self.x_proj = nn.Linear(inner, self.dt_rank + 2 * state, bias=False)
            self.dt_proj = nn.Linear(self.dt_rank, inner)
            nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
            with torch.no_grad():
                self.dt_proj.bias.copy_(dt_bias)
        else:  # time-invariant: one Δ per channel, one B and C per channel and state
            self.dt_bias = nn.Parameter(dt_bias)
            self.B = nn.Parameter(torch.randn(inner, state) / math.sqrt(state))
            self.C = nn.Parameter(torch.randn(inner, state) / math.sqrt(state))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def forward(self, u, mask=None):
        L = u.shape[1]
        if mask is not None:  # padding contributes nothing to the state
            u = u * mask[:, :, None]
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, L, E) each
        if self.decoding is not None:
            return self.out_proj(self.step(x, self.decoding.slot()) * F.silu(z))
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :L].transpose(1, 2))  # causal: trim the right side
        A = -torch.exp(self.A_log.float())  # (E, N)
        if self.selective:
            dt, B, C = self.x_proj(x).split([self.dt_rank, self.state, self.state], dim=-1)
            delta = F.softplus(self.dt_proj(dt))  # (B, L, E)
        else:
            B, C = self.B, self.C  # (E, N): the same at every step
            delta = F.softplus(self.dt_bias).expand_as(x)
        if mask is not None:
            delta = delta * mask[:, :, None]  # Δ = 0 at padding: the state passes through unchanged
        y = self.selective_scan(x, delta, A, B, C, self.D)
        return self.out_proj(y * F.silu(z))

    def step(self, x, cache: dict):
        """y for the new positions x (B, T, E) of a sequence whose earlier positions left their last
        `conv - 1` inputs and the state h (B, E, N, fp32) in `cache` (zeros at the start): one position
        at a time, each from the window of the convolution and the state, which `cache` then keeps."""
        batch, T, E = x.shape
        weight, reach = self.conv1d.weight[:, 0], self.conv1d.kernel_size[0] - 1  # (E, conv)
        window = cache.get("window", x.new_zeros(batch, E, reach))
        h = cache.get("state", x.new_zeros(batch, E, self.state, dtype=torch.float32))
        A = -torch.exp(self.A_log.float())
        ys = []
        for t in range(T):
            window = torch.cat([window, x[:, t, :, None]], dim=-1)  # (B, E, conv): oldest first
            x_t = F.silu((window * weight).sum(-1) + self.conv1d.bias)  # (B, E)
            window = window[..., 1:]
            if self.selective:
                dt, B_t, C_t = self.x_proj(x_t).split([self.dt_rank, self.state, self.state], dim=-1)
                delta = F.softplus(self.dt_proj(dt))
                B_t, C_t = B_t[:, None, :], C_t[:, None, :]  # (B, 1, N)
            else:
                B_t, C_t, delta = self.B, self.C, F.softplus(self.dt_bias).expand_as(x_t)
            h = torch.exp(delta[..., None] * A) * h + (delta * x_t)[..., None] * B_t
            ys.append((h * C_t).sum(-1).to(x.dtype) + x_t * self.D)
        cache["window"], cache["state"] = window, h
        return torch.stack(ys, dim=1)

    def selective_scan(self, u, delta, A, B, C, D):
        """y = scan(u) with the path chosen by `scan` (auto: Triton on a GPU, chunked on a CPU)."""
        path, fused = self.scan, None
        if path == "triton" or (path == "auto" and u.is_cuda):  # no Triton import on a CPU run
            fused = self.fused_scan()
        if path == "auto":
            fits = u.is_cuda and self.selective and not self.state & (self.state - 1)  # the kernel: N a power of 2
            path = "triton" if fits and fused is not None else "chunked"
        if path == "triton":
            if fused is None:
                raise RuntimeError("scan = triton needs Triton (it ships with PyTorch's CUDA builds)")
            return fused(u, delta, A, B, C, D)
        if path == "sequential":
            return self.scan_sequential(u, delta, A, B, C, D)
        return self.scan_chunked(u, delta, A, B, C, D, self.chunk or max(8, math.isqrt(u.shape[1])))

    @staticmethod
    def fused_scan():
        """The Triton kernel, imported on first use; None where Triton (or cramnet) is absent."""
        try:
            from cramnet.blocks.scan_triton import triton_scan
        except ImportError:
            return None
        return triton_scan

    @staticmethod
    def scan_sequential(u, delta, A, B, C, D):
        """The recurrence as written, one step at a time: the reference."""
        batch, L, E = u.shape
        h = u.new_zeros(batch, E, A.shape[1], dtype=torch.float32)
        ys = []
        for t in range(L):
            B_t = B[:, t, None, :] if B.dim() == 3 else B  # (B, 1, N) selective, (E, N) time-invariant
            C_t = C[:, t, None, :] if C.dim() == 3 else C
            h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[:, :, None] * B_t
            ys.append((h * C_t).sum(-1))
        return torch.stack(ys, dim=1).to(u.dtype) + u * D

    @staticmethod
    def scan_chunked(u, delta, A, B, C, D, chunk=16):
        """The same recurrence in chunks: every chunk scans from a zero state at once (chunk steps),
        the chunk-end states are chained (L/chunk steps), and a second pass over the chunks adds each
        chunk's incoming state, decayed, to its outputs (chunk steps). Never holds [B, L, E, N]."""
        batch, L, E = u.shape
        chunks = -(-L // chunk)
        pad = chunks * chunk - L  # padding after the end: Δ = 0 leaves the state as it is
        if pad:
            u, delta = F.pad(u, (0, 0, 0, pad)), F.pad(delta, (0, 0, 0, pad))
            B, C = (F.pad(B, (0, 0, 0, pad)) if B.dim() == 3 else B), (F.pad(C, (0, 0, 0, pad)) if C.dim() == 3 else C)

        def steps(t):  # tensors of step t of every chunk: (batch, chunks, E[, N])
            index = slice(t, None, chunk)
            B_t = B[:, index, None, :] if B.dim() == 3 else B
            C_t = C[:, index, None, :] if C.dim() == 3 else C
            return u[:, index], delta[:, index], B_t, C_t

        h = u.new_zeros(batch, chunks, E, A.shape[1], dtype=torch.float32)
        decay = torch.ones_like(h)  # exp(Σ Δ A) since the chunk's start
        local = []
        for t in range(chunk):
            u_t, d_t, B_t, C_t = steps(t)
            step_decay = torch.exp(d_t[..., None] * A)
            h = step_decay * h + (d_t * u_t)[..., None] * B_t
            decay = decay * step_decay
            local.append((h * C_t).sum(-1))
        incoming = [torch.zeros_like(h[:, 0])]  # the state entering each chunk
        for c in range(chunks - 1):
            incoming.append(decay[:, c] * incoming[-1] + h[:, c])
        start = torch.stack(incoming, dim=1)  # (batch, chunks, E, N)
        ys, running = [], torch.ones_like(h)
        for t in range(chunk):
            u_t, d_t, B_t, C_t = steps(t)
            running = running * torch.exp(d_t[..., None] * A)
            ys.append(local[t] + (running * start * C_t).sum(-1))
        y = torch.stack(ys, dim=2).reshape(batch, chunks * chunk, E)[:, :L]  # (batch, chunks, chunk, E) → time
        return y.to(u.dtype) + u[:, :L] * D


def _inner(inputs, a) -> tuple[int, int]:
    x = inputs[0]
    if x.rank != 2:
        raise ShapeError(f"expects a sequence [seq, d], got {x}")
    d = known_size(x.dims[1], "the width (last dimension)")
    return d, a.expand * d


def _params(inputs, a) -> int:
    d, inner = _inner(inputs, a)
    dt_rank = math.ceil(d / 16)
    shared = d * 2 * inner + (inner * a.conv + inner) + inner * a.state + inner + inner * d
    if a.selective:
        return shared + inner * (dt_rank + 2 * a.state) + (dt_rank * inner + inner)
    return shared + inner + 2 * inner * a.state


def _flops(inputs, out, a):
    seq = inputs[0].dims[0]
    d, inner = _inner(inputs, a)
    projections = 2 * (_params(inputs, a) - inner * a.state - inner)  # every weight once per position
    return seq * (projections + 9 * inner * a.state)  # + the scan: ~9 operations per state element


@block(
    "mamba",
    family="state space",
    args=(
        Arg("state", "int", 16, "state size N per channel", low=1, key=True),
        Arg("expand", "int", 2, "inner width E = expand · d", low=1, key=True),
        Arg("conv", "int", 4, "width of the causal depthwise convolution", low=1, key=True),
        Arg("selective", "bool", True, "Δ, B, C computed from the input (false: time-invariant, S4D-style)"),
        Arg(
            "scan",
            "enum",
            "auto",
            "scan path: auto (Triton on a GPU, chunked on a CPU), chunked, sequential, triton",
            choices=("auto", "chunked", "sequential", "triton"),
        ),
        Arg("chunk", "int", None, "chunk length of the chunked scan (default: √seq, at least 8)", low=1),
    ),
    params=_params,
    flops=_flops,
    module=lambda inputs, a: Construct(
        Mamba,
        {
            "dim": _inner(inputs, a)[0],
            "state": a.state,
            "expand": a.expand,
            "conv": a.conv,
            "selective": a.selective,
            "scan": a.scan,
            "chunk": a.chunk,
        },
    ),
    masked=True,
    positions="keep",
    decodes=True,  # with its window and state carried (Mamba.step)
    example=("[7, 16]", "mamba(4, chunk = 3)"),
)
def mamba(inputs, a):
    """The selective state-space block of Mamba (Gu & Dao 2023): input-dependent Δ, B and C, a
    causal depthwise convolution and gating, with the reference block's parameter layout.

    Shapes: [seq, d] -> [seq, d].
    """
    _inner(inputs, a)
    if a.scan == "triton" and (not a.selective or a.state & (a.state - 1)):
        raise ShapeError(
            "scan = triton needs selective = true and a power-of-two state size",
            "use scan = auto, which falls back to the chunked scan",
        )
    return inputs[0]
