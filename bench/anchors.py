"""Hand-written anchors for `gpu_side_by_side.py`: what a person would write by hand for the same
network, each with a function that copies a compiled cramnet module's weights into it.

- `NanoGPT`: GPT-2 (Radford et al. 2019) as nanoGPT lays it out — one fused q·k·v projection, SDPA
  with `is_causal`, tanh GELU, the head tied to the token embedding.
- `SortedGroupedMoE`: a mixture of SwiGLU experts (Shazeer 2020) with stacked weights, dispatch by
  sorting the token–expert assignments and one `torch._grouped_mm` per projection; the router, top-k
  softmax and Switch balance loss as cramnet's `moe` computes them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NanoGPTBlock(nn.Module):
    def __init__(self, d: int, heads: int, p: float):
        super().__init__()
        self.heads, self.p = heads, p
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)  # q, k, v in one matrix
        self.c_proj = nn.Linear(d, d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        p = self.p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.drop(self.c_proj(y))
        return x + self.drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))


class NanoGPT(nn.Module):
    def __init__(self, vocab: int, context: int, d: int, heads: int, layers: int, p: float = 0.1):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.drop = nn.Dropout(p)
        self.h = nn.ModuleList(NanoGPTBlock(d, heads, p) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):  # (B, T) -> logits (B, T, vocab)
        x = self.drop(self.wte(ids) + self.wpe.weight[: ids.shape[1]])
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied head


def copy_into_nanogpt(compiled: nn.Module, twin: NanoGPT) -> None:
    """A compiled GPT-2 spec's weights into the twin (q, k, v projections concatenated)."""
    with torch.no_grad():
        twin.wte.weight.copy_(compiled.tok.weight)
        twin.wpe.weight.copy_(compiled.pos_embed_1.weight)
        for ours, theirs in zip(compiled.pre_ln, twin.h):
            attention = ours.attention_1
            for name in ("weight", "bias"):
                parts = [getattr(getattr(attention, f"{x}_proj"), name) for x in "qkv"]
                getattr(theirs.c_attn, name).copy_(torch.cat(parts))
            pairs = {
                theirs.ln_1: ours.layernorm_1,
                theirs.ln_2: ours.layernorm_2,
                theirs.c_proj: attention.o_proj,
                theirs.c_fc: ours.dense_1,
                theirs.mlp_proj: ours.dense_2,
            }
            for target, source in pairs.items():
                target.load_state_dict(source.state_dict())
        twin.ln_f.load_state_dict(compiled.layernorm_1.state_dict())


class SortedGroupedMoE(nn.Module):
    """Token-routed SwiGLU experts, weights stacked (E, out, in). Shapes: (B, T, d) -> (B, T, d)."""

    def __init__(self, dim: int, hidden: int, experts: int, top_k: int):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, experts, bias=False)
        self.gate = nn.Parameter(torch.empty(experts, hidden, dim))
        self.up = nn.Parameter(torch.empty(experts, hidden, dim))
        self.down = nn.Parameter(torch.empty(experts, dim, hidden))
        self.aux_loss = None

    def forward(self, x):
        tokens = x.reshape(-1, x.shape[-1])  # (N, d)
        logits = self.router(tokens)  # (N, E)
        top_logits, chosen = logits.topk(self.top_k, dim=-1)
        weights = top_logits.softmax(dim=-1)
        flat = chosen.reshape(-1)
        order = flat.argsort(stable=True)
        counts = torch.zeros(logits.shape[1], dtype=torch.long, device=x.device).scatter_add_(
            0, flat, torch.ones_like(flat)
        )
        offsets = counts.cumsum(0).to(torch.int32)
        rows = order // self.top_k
        sorted_tokens = tokens.index_select(0, rows)  # (N·k, d), grouped by expert
        gate = torch._grouped_mm(sorted_tokens, self.gate.transpose(-2, -1), offs=offsets)
        up = torch._grouped_mm(sorted_tokens, self.up.transpose(-2, -1), offs=offsets)
        out = torch._grouped_mm(F.silu(gate) * up, self.down.transpose(-2, -1), offs=offsets)
        out = out * weights.reshape(-1)[order, None]
        combined = out.new_zeros(tokens.shape[0], out.shape[-1]).index_add(0, rows, out)
        fraction = counts.to(logits.dtype) / flat.numel()
        self.aux_loss = logits.shape[1] * (fraction * logits.softmax(dim=-1).mean(dim=0)).sum()
        return combined.reshape(x.shape)


def copy_into_moe(moe: nn.Module, twin: SortedGroupedMoE) -> None:
    """A compiled `moe(experts = E) { swiglu(d, h) }` stage's weights into the stacked twin."""
    with torch.no_grad():
        twin.router.weight.copy_(moe.router.weight)
        for name, layer in (("gate", "dense_1"), ("up", "u"), ("down", "dense_3")):
            getattr(twin, name).copy_(torch.stack([e.swiglu_1.get_submodule(layer).weight for e in moe.experts]))
