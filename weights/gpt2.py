"""Hugging Face `gpt2` (GPT2Model, GPT2LMHeadModel) onto a pre-LN spec (specs/gpt2.cram):

wte, wpe                       the embed and pos_embed before the first layer
h.k.ln_1, h.k.ln_2             layer k's two layernorms
h.k.attn.c_attn                [d, 3d] Conv1D: q, k and v fused, transposed -> q_proj, k_proj, v_proj
h.k.attn.c_proj                [d, d] Conv1D -> o_proj
h.k.mlp.c_fc, h.k.mlp.c_proj   the layer's two dense calls (transposed)
ln_f                           the layernorm after the last layer
lm_head (absent when tied)     an untied head of the vocabulary's width; a tied head needs nothing
"""

from __future__ import annotations

from .structure import Link, Structure, same, split, transposed

NAME = "gpt2"
SPEC = "specs/gpt2.cram"  # a spec of this layout, named in errors
MODEL_TYPES = ("gpt2",)
BASES = ("transformer.", "")  # GPT2LMHeadModel keeps the body under transformer., GPT2Model at the top
MARK = "h.0.attn.c_attn.weight"
EPS = ("layer_norm_epsilon", "layernorm")  # the config key of the norms' ε, and the spec block it must agree with


def notes(s: Structure, config: dict) -> list[str]:
    """GPT-2's GELU is the tanh approximation (gelu_new): an exact `gelu` in the spec changes outputs."""
    wanted = "tanh" if config.get("activation_function", "gelu_new") in ("gelu_new", "gelu_pytorch_tanh") else "none"
    wrong = [n for n in s.order if s.block(n) == "gelu" and s.attrs(n).args.approximate != wanted]
    if not wrong:
        return []
    return [f"the checkpoint's GELU is approximate = {wanted}, {s.where(wrong[0])} is not (pre_ln(…, act = {wanted}))"]


def norm(s: Structure, node: str, name: str) -> list[Link]:
    return [same(node, s.key(node, p), f"{name}.{p}") for p in ("weight", "bias")]


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    before, layers, after = s.layers("attention")
    embed = s.of(before, "embed", 1, "the part before the first layer")[0]
    position = s.of(before, "pos_embed", 1, "the part before the first layer")[0]
    found = [same(embed, s.key(embed, "weight"), f"{base}wte.weight")]
    found.append(same(position, s.key(position, "weight"), f"{base}wpe.weight"))
    for k, layer in enumerate(layers):
        what, h = f"layer {k}", f"{base}h.{k}."
        ln_1, ln_2 = s.of(layer, "layernorm", 2, what)
        (attention,) = s.of(layer, "attention", 1, what)
        fc, proj = s.of(layer, "dense", 2, what)
        found += norm(s, ln_1, h + "ln_1") + norm(s, ln_2, h + "ln_2")
        q, k_, v = (s.key(attention, f"{p}_proj") for p in "qkv")
        found.append(split(attention, [f"{q}.weight", f"{k_}.weight", f"{v}.weight"], h + "attn.c_attn.weight", True))
        found.append(split(attention, [f"{q}.bias", f"{k_}.bias", f"{v}.bias"], h + "attn.c_attn.bias"))
        found.append(transposed(attention, s.key(attention, "o_proj.weight"), h + "attn.c_proj.weight"))
        found.append(same(attention, s.key(attention, "o_proj.bias"), h + "attn.c_proj.bias"))
        for node, name in ((fc, "mlp.c_fc"), (proj, "mlp.c_proj")):
            found.append(transposed(node, s.key(node, "weight"), f"{h}{name}.weight"))
            found.append(same(node, s.key(node, "bias"), f"{h}{name}.bias"))
    final = s.of(after, "layernorm")
    if final:
        found += norm(s, final[0], f"{base}ln_f")
    found += lm_head(s, after, embed, names, "lm_head.weight", f"{base}wte.weight")
    return found


def lm_head(
    s: Structure, after: list[str], embed: str, names: dict[str, tuple[int, ...]], head: str, table: str
) -> list[Link]:
    """An untied head as wide as the vocabulary reads the checkpoint's head, or its token table when the
    checkpoint ties them; a head of another width, or one the checkpoint lacks (LlamaModel, untied, has
    no lm_head), is the spec's own (new)."""
    node = s.untied_head(after, embed)
    if node is None or (head not in names and s.config.get("tie_word_embeddings") is False):
        return []
    return [same(node, s.key(node, "weight"), head if head in names else table)]


def hf_config(s: Structure) -> dict:
    before, layers, after = s.layers("attention")
    embed, position = s.of(before, "embed")[0], s.of(before, "pos_embed")[0]
    attention, dense = s.of(layers[0], "attention")[0], s.of(layers[0], "dense")[0]
    norm_node = s.of(layers[0], "layernorm")[0]
    args = s.attrs(embed).args
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": args.vocab,
        "n_positions": s.attrs(position).args.max_len,
        "n_embd": args.dim,
        "n_layer": len(layers),
        "n_head": s.attrs(attention).args.heads,
        "n_inner": s.attrs(dense).args.out,
        "layer_norm_epsilon": s.attrs(norm_node).args.eps,
        "activation_function": "gelu_new",
        "tie_word_embeddings": s.untied_head(after, embed) is None,
    }
