"""Attention family: multi-head self- and cross-attention through `F.scaled_dot_product_attention`
(flash and memory-efficient kernels on a GPU), grouped-query heads and rotary positions.

Layout (LANGUAGE.md §6): q and o project d -> d; k and v project to kv_heads · d/heads; biases
unless `bias = false`. With kv_heads = heads this is nn.MultiheadAttention's parameter count.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Arg, BlockSpec, Construct, Family, ShapeError, block
from .shape_rules import known_size

ATTENTION = Family(
    "attention",
    "#f8c8dc",
    "Multi-head self- and cross-attention, patch embeddings, axial attention.",
    paper="Vaswani et al. 2017",
)


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention (Vaswani et al. 2017), with grouped-query
    heads (Ainslie et al. 2023), rotary position embeddings (Su et al. 2021), a causal mask, and
    T5's bucketed relative position bias with unscaled scores (Raffel et al. 2020).

    With a `Decoding` attached (blocks/decoding.py), causal self-attention keeps the keys and values
    of the positions it has seen and reads only the new ones; cross-attention projects its memory,
    the same on every pass, once."""

    decoding = None

    def __init__(
        self,
        dim,
        heads,
        kv_heads,
        bias=True,
        causal=False,
        rope=False,
        dropout=0.0,
        memory_dim=None,
        scale=True,
        relative_bias=0,
        max_distance=128,
    ):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.causal, self.rope, self.dropout = causal, rope, dropout
        self.scale, self.max_distance = scale, max_distance
        self.keep_weights, self.weights = False, None  # attention maps, on request (cramnet.compiler.attention_maps)
        self.stack_weights = True  # q, k, v as one product (off under FSDP: see _projections)
        source = memory_dim or dim  # cross-attention reads keys and values from the memory
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(source, kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(source, kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(dim, dim, bias=bias)
        # one learned bias per (bucket of the query–key offset, head)
        self.relative_bias = nn.Embedding(relative_bias, heads) if relative_bias else None

    def forward(self, x, memory=None, mask=None, memory_mask=None):
        source, source_mask = (x, mask) if memory is None else (memory, memory_mask)
        B, T, S = x.shape[0], x.shape[1], source.shape[1]
        decoding = self.decoding if memory is None else None
        past = decoding.position if decoding is not None else 0  # the first query's position
        if memory is not None and self.decoding is not None:  # decoding: the memory's keys and values once
            cache = self.decoding.slot()
            if not cache:
                cache["k"], cache["v"] = self.k_proj(memory), self.v_proj(memory)
            q, k, v = self.q_proj(x), cache["k"], cache["v"]
        else:
            q, k, v = self._projections(x, source)
        q = q.view(B, T, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, S, self.kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, S, hd)
        v = v.view(B, S, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rope:
            q, k = self.rotate(q, offset=past), self.rotate(k, offset=past)
        if decoding is not None:  # the earlier positions' keys and values, then these
            k, v = self._remember(decoding.slot(), k, v)
            S = k.shape[2]
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        allowed = None if source_mask is None else source_mask[:, None, None, :]  # (B, 1, 1, S) keys to attend
        bias = None
        if self.relative_bias is not None:
            count, bidirectional = self.relative_bias.num_embeddings, not self.causal
            buckets = self.relative_buckets(T, S, count, self.max_distance, bidirectional, x.device, past)  # (T, S)
            bias = self.relative_bias(buckets).permute(2, 0, 1)[None].to(q.dtype)  # (1, H, T, S)
        if self.causal and (allowed is not None or self.keep_weights or bias is not None or past):
            causal = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(past)  # query i is at past + i
            allowed = causal if allowed is None else allowed & causal
        if self.keep_weights:  # asked for the attention maps: the explicit softmax, kept in self.weights
            scores = q @ k.transpose(-1, -2)  # (B, H, T, S)
            if self.scale:
                scores = scores / math.sqrt(self.head_dim)
            if bias is not None:
                scores = scores + bias
            if allowed is not None:
                scores = scores.masked_fill(~allowed, float("-inf"))
            weights = scores.softmax(dim=-1)
            self.weights = weights.detach()
            y = F.dropout(weights, self.dropout, self.training) @ v
        else:  # the default: fused kernels (flash / memory-efficient on a GPU)
            if bias is not None:  # an additive float mask: the bias, -inf where a key is not allowed
                allowed = bias if allowed is None else bias.masked_fill(~allowed, float("-inf"))
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=allowed,
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=self.causal and allowed is None,
                scale=None if self.scale else 1.0,
            )  # (B, H, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.heads * self.head_dim))

    @staticmethod
    def _remember(cache: dict, k, v):
        """Keys and values of the positions before (from `cache`) and these, which `cache` keeps too."""
        if cache:
            k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
        cache["k"], cache["v"] = k, v
        return k, v

    def _projections(self, x, source):
        """q, k and v. In self-attention with gradients on, the three are one matrix product with the
        weights stacked, as a fused `c_attn` would be (one GEMM forward, one for the input's gradient
        instead of three and two sums); the parameters stay three `nn.Linear`s, so the layout and
        checkpoints do not change. The stacked copy (3·d² values) is kept for the backward pass: under
        FSDP, which frees whole weights after each layer's forward, that copy would not be freed, so
        sharded training turns `stack_weights` off (but in layers it recomputes, `checkpoint_layers`,
        which keep nothing for backward); projections with hooks (or another class) are
        called as modules. Without gradients there is no backward to save, and copying the weights
        would cost more than it saves (decoding a token at a time, most of the pass: bench/generate.py)."""
        projections = (self.q_proj, self.k_proj, self.v_proj)
        plain = all(type(p) is nn.Linear and not (p._forward_hooks or p._forward_pre_hooks) for p in projections)
        if source is not x or not self.stack_weights or not plain or not torch.is_grad_enabled():
            return self.q_proj(x), self.k_proj(source), self.v_proj(source)
        weight = torch.cat([p.weight for p in projections])
        bias = None if self.q_proj.bias is None else torch.cat([p.bias for p in projections])
        return F.linear(x, weight, bias).split([p.out_features for p in projections], dim=-1)

    @staticmethod
    def relative_buckets(queries, keys, buckets, max_distance, bidirectional, device=None, offset=0):
        """T5's bucket for each (query i, key j) pair (Raffel et al. 2020, §2.1), a (queries, keys) tensor;
        the queries sit at positions offset, offset + 1, … and the keys at 0, 1, ….

        Bidirectional: keys ahead of the query use the upper half of the buckets, keys behind (or at)
        it the lower half; causal: every bucket is for keys behind, keys ahead fall in bucket 0. Within
        a half of n buckets, distances below n/2 get one bucket each; farther ones share buckets spaced
        logarithmically up to max_distance, and everything beyond falls in the half's last bucket.
        """
        behind = torch.arange(offset, offset + queries, device=device)[:, None] - torch.arange(keys, device=device)
        if bidirectional:
            half = buckets // 2
            first = torch.where(behind < 0, half, 0)
            distance = behind.abs()
        else:
            half, first, distance = buckets, 0, behind.clamp(min=0)
        exact = half // 2
        ratio = torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
        far = (exact + (ratio * (half - exact)).long()).clamp(max=half - 1)
        return first + torch.where(distance < exact, distance, far)

    @staticmethod
    def rotate(t, base=10000.0, offset=0):
        """Rotary embedding, rotate-half form (as GPT-NeoX and Llama): pairs (i, i + hd/2) turn by
        position · base^(-2i/hd), the positions counted from `offset`."""
        T, hd = t.shape[-2], t.shape[-1]
        inverse = base ** (-torch.arange(0, hd, 2, device=t.device, dtype=torch.float32) / hd)
        angles = torch.arange(offset, offset + T, device=t.device, dtype=torch.float32)[:, None] * inverse  # (T, hd/2)
        cos, sin = torch.cat([angles.cos()] * 2, dim=-1), torch.cat([angles.sin()] * 2, dim=-1)
        rotated = torch.cat([-t[..., hd // 2 :], t[..., : hd // 2]], dim=-1)
        return (t.float() * cos + rotated.float() * sin).to(t.dtype)


def _check_heads(d: int, a) -> int:
    kv_heads = a.kv_heads if a.kv_heads is not None else a.heads
    if d % a.heads:
        raise ShapeError(
            f"heads = {a.heads} must divide the model width {d}",
            f"choose heads among {[h for h in range(1, min(d, 64) + 1) if d % h == 0]}",
        )
    if a.heads % kv_heads:
        raise ShapeError(f"kv_heads = {kv_heads} must divide heads = {a.heads}")
    if getattr(a, "rope", False) and (d // a.heads) % 2:
        raise ShapeError(f"rope needs an even head size, got {d // a.heads} (= {d} / {a.heads} heads)")
    buckets = getattr(a, "relative_bias", 0)
    if buckets:
        exact = (buckets if a.causal else buckets // 2) // 2  # buckets of one offset each, in one half
        if exact < 1:
            raise ShapeError(
                f"relative_bias = {buckets} is too few buckets: at least {2 if a.causal else 4}",
                "T5 uses relative_bias = 32",
            )
        if a.max_distance <= exact:
            raise ShapeError(
                f"max_distance = {a.max_distance} must exceed the {exact} offsets that get a bucket each",
                "T5 uses max_distance = 128",
            )
    return kv_heads


def _sequence(value, what: str) -> int:
    if value.rank != 2:
        raise ShapeError(f"expects {what} [seq, d], got {value}")
    return known_size(value.dims[1], f"the width (last dimension) of {what}")


def _projection_params(d: int, source: int, kv: int, bias: bool) -> int:
    weights = d * d + 2 * source * kv + d * d
    return weights + (2 * d + 2 * kv if bias else 0)


_COMMON = (
    Arg("heads", "int", doc="attention heads; must divide the width d", low=1),
    Arg("bias", "bool", True, "biases on the q, k, v and output projections"),
    Arg("kv_heads", "int", None, "key/value heads for grouped-query attention (default: heads)", low=1),
    Arg("dropout", "float", 0.0, "dropout on the attention weights (training only)", low=0.0, below=1.0),
)
_SCALE = Arg("scale", "bool", True, "divide the scores by √(head size); false drops it, as T5 does")


def _self_attention() -> BlockSpec:
    def shape(inputs, a):
        _check_heads(_sequence(inputs[0], "a sequence"), a)
        return inputs[0].with_dims(inputs[0].dims)

    def params(inputs, a):
        d = _sequence(inputs[0], "a sequence")
        return _projection_params(d, d, _check_heads(d, a) * (d // a.heads), a.bias) + a.relative_bias * a.heads

    def flops(inputs, out, a):
        seq, d = inputs[0].dims
        projections = params(inputs, a) - a.relative_bias * a.heads
        return 2 * seq * projections + 4 * seq * seq * d + (a.heads * seq * seq if a.relative_bias else 0)

    def module(inputs, a):
        d = _sequence(inputs[0], "a sequence")
        return Construct(
            SelfAttention,
            {
                "dim": d,
                "heads": a.heads,
                "kv_heads": _check_heads(d, a),
                "bias": a.bias,
                "causal": a.causal,
                "rope": a.rope,
                "dropout": a.dropout,
                "scale": a.scale,
                "relative_bias": a.relative_bias,
                "max_distance": a.max_distance,
            },
        )

    args = (
        _COMMON[0],
        Arg("causal", "bool", False, "each position attends only to itself and earlier ones"),
        *_COMMON[1:],
        Arg("rope", "bool", False, "rotary position embeddings on queries and keys"),
        _SCALE,
        Arg(
            "relative_bias",
            "int",
            0,
            "buckets of T5's learned relative position bias, a [buckets, heads] table (0: none; T5 uses 32)",
            low=0,
        ),
        Arg("max_distance", "int", 128, "offsets from here on share the last relative-position bucket", low=1),
    )
    return block(
        "attention",
        family="attention",
        args=args,
        params=params,
        flops=flops,
        module=module,
        masked=True,
        positions="keep",
        decodes=lambda inputs, a: a.causal,  # with its keys and values cached
        example=("[6, 16]", "attention(4, causal = true, kv_heads = 2, rope = true, relative_bias = 8)"),
        doc="Multi-head scaled dot-product self-attention (Vaswani et al. 2017) through SDPA; grouped-query heads "
        "(Ainslie et al. 2023), rotary positions (Su et al. 2021), causal masking and padding masks; T5's "
        "unscaled scores (`scale = false`) and bucketed relative position bias (`relative_bias = 32`; Raffel "
        "et al. 2020): the offset j - i of key j from query i falls in one of the buckets — half of them "
        "exact, the rest logarithmic up to `max_distance`; keys ahead and behind get separate halves unless "
        "`causal = true` — and each bucket adds a learned score per head.\n\n"
        "Shapes: [seq, d] -> [seq, d].",
    )(shape)


def _cross_attention() -> BlockSpec:
    def widths(inputs, a):
        d = _sequence(inputs[0], "the queries")
        source = _sequence(inputs[1], "the memory")
        return d, source, _check_heads(d, a)

    def shape(inputs, a):
        widths(inputs, a)
        return inputs[0].with_dims(inputs[0].dims)

    def params(inputs, a):
        d, source, kv_heads = widths(inputs, a)
        return _projection_params(d, source, kv_heads * (d // a.heads), a.bias)

    def flops(inputs, out, a):
        (seq, d), memory = inputs[0].dims, inputs[1].dims[0]
        d_, source, kv_heads = widths(inputs, a)
        kv = kv_heads * (d // a.heads)
        return 2 * seq * 2 * d * d + 2 * memory * 2 * source * kv + 4 * seq * memory * d

    def module(inputs, a):
        d, source, kv_heads = widths(inputs, a)
        return Construct(
            SelfAttention,
            {
                "dim": d,
                "heads": a.heads,
                "kv_heads": kv_heads,
                "bias": a.bias,
                "dropout": a.dropout,
                "memory_dim": source,
                "scale": a.scale,
            },
        )

    args = (
        _COMMON[0],
        Arg("memory", "tensor", doc="the bound sequence [mem, d_mem] to read keys and values from"),
        *_COMMON[1:],
        _SCALE,
    )
    return block(
        "cross_attention",
        family="attention",
        args=args,
        params=params,
        flops=flops,
        module=module,
        masked=True,
        positions="keep",
        decodes=True,  # each query reads the whole memory (compiler/decoding.py: which must not be stepped)
        example=("[6, 16]", "cross_attention(4, memory = x)"),
        doc="Multi-head attention whose queries come from the input and whose keys and values come from a "
        "memory sequence (the encoder–decoder attention of Vaswani et al. 2017); the memory's padding mask "
        "is honoured.\n\nShapes: [seq, d], memory [mem, d_mem] -> [seq, d].",
    )(shape)


_self_attention()
_cross_attention()
