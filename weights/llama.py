"""Hugging Face `llama` (LlamaModel, LlamaForCausalLM) onto `llama_layer` specs
(specs/reference/llama2_7b.cram):

    model.embed_tokens                 the embed before the first layer
    layers.k.input_layernorm, post_attention_layernorm -> the layer's two rmsnorms
    layers.k.self_attn.{q,k,v,o}_proj  -> the attention's projections (k and v narrower with GQA)
    layers.k.mlp.{gate,up,down}_proj   -> swiglu's three dense calls, in that order
    model.norm, lm_head                the rmsnorm and the head after the last layer

Rotary positions: Hugging Face's Llama rotates pairs (i, i + head/2) with cos/sin of position ·
θ^(-2i/head) — the rotate-half form our attention uses — so q_proj and k_proj load as they are.
(Meta's original checkpoints rotate adjacent pairs (2i, 2i + 1); HF's conversion permutes the rows
of q and k per head to the half form, so a Meta checkpoint must be converted first.) θ other than
10,000 or scaled rotary positions are refused: our attention has θ = 10,000 built in.
"""

from __future__ import annotations

from ..errors import TrainError
from .structure import Link, Structure, same

NAME = "llama"
SPEC = "specs/reference/llama2_7b.cram"  # a spec of this layout, named in errors
MODEL_TYPES = ("llama",)
BASES = ("model.", "")
MARK = "layers.0.self_attn.q_proj.weight"
EPS = ("rms_norm_eps", "rmsnorm")  # the config key of the norms' ε, and the spec block it must agree with


def check_config(config: dict | None) -> None:
    if not config:
        return
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    kind = rope.get("rope_type", rope.get("type", "default"))
    if float(theta) != 10000.0 or kind != "default":
        raise TrainError(
            f"the checkpoint's rotary positions use θ = {theta} ({kind}); cramnet's attention rotates with "
            "θ = 10,000 and no scaling, so its outputs would differ",
            "load a checkpoint with rope_theta 10000 (Llama 1 and 2)",
        )


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    before, layers, after = s.layers("attention")
    embed = s.of(before, "embed", 1, "the part before the first layer")[0]
    found = [same(embed, s.key(embed, "weight"), f"{base}embed_tokens.weight")]
    for k, layer in enumerate(layers):
        what, h = f"layer {k}", f"{base}layers.{k}."
        norm_1, norm_2 = s.of(layer, "rmsnorm", 2, what)
        (attention,) = s.of(layer, "attention", 1, what)
        gate, up, down = s.of(layer, "dense", 3, what)
        found.append(same(norm_1, s.key(norm_1, "weight"), h + "input_layernorm.weight"))
        found.append(same(norm_2, s.key(norm_2, "weight"), h + "post_attention_layernorm.weight"))
        for p in "qkvo":
            found.append(same(attention, s.key(attention, f"{p}_proj.weight"), f"{h}self_attn.{p}_proj.weight"))
            if s.has(s.key(attention, f"{p}_proj.bias")):  # attention_bias = true (Qwen-like variants)
                found.append(same(attention, s.key(attention, f"{p}_proj.bias"), f"{h}self_attn.{p}_proj.bias"))
        for node, name in ((gate, "gate_proj"), (up, "up_proj"), (down, "down_proj")):
            found.append(same(node, s.key(node, "weight"), f"{h}mlp.{name}.weight"))
    final = s.of(after, "rmsnorm")
    if final:
        found.append(same(final[0], s.key(final[0], "weight"), f"{base}norm.weight"))
    from .gpt2 import lm_head

    found += lm_head(s, after, embed, names, "lm_head.weight", f"{base}embed_tokens.weight")
    return found


def hf_config(s: Structure) -> dict:
    before, layers, after = s.layers("attention")
    embed = s.of(before, "embed")[0]
    attention = s.attrs(s.of(layers[0], "attention")[0]).args
    args = s.attrs(embed).args
    heads = attention.heads
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": args.vocab,
        "hidden_size": args.dim,
        "intermediate_size": s.attrs(s.of(layers[0], "dense")[0]).args.out,
        "num_hidden_layers": len(layers),
        "num_attention_heads": heads,
        "num_key_value_heads": attention.kv_heads or heads,
        "head_dim": args.dim // heads,
        "rms_norm_eps": s.attrs(s.of(layers[0], "rmsnorm")[0]).args.eps,
        "rope_theta": 10000.0,
        "attention_bias": bool(attention.bias),
        "tie_word_embeddings": s.untied_head(after, embed) is None,
    }
