"""Hugging Face `mamba` (MambaModel, MambaForCausalLM) onto residual Mamba specs
(specs/reference/mamba_130m.cram):

    backbone.embeddings                  the embed before the first layer
    layers.k.norm                        the layer's rmsnorm
    layers.k.mixer.{in_proj, conv1d, x_proj, dt_proj, out_proj, A_log, D} -> the mamba call: the same
                                         names (blocks/mamba.py keeps the reference block's layout)
    backbone.norm_f, lm_head             the rmsnorm and an untied head after the last layer
"""

from __future__ import annotations

from .structure import Link, Structure, same

NAME = "mamba"
SPEC = "specs/reference/mamba_130m.cram"  # a spec of this layout, named in errors
MODEL_TYPES = ("mamba",)
BASES = ("backbone.", "")
MARK = "layers.0.mixer.A_log"
EPS = ("layer_norm_epsilon", "rmsnorm")  # the config key of the norms' ε, and the spec block it must agree with
MIXER = (
    "A_log",
    "D",
    "in_proj.weight",
    "conv1d.weight",
    "conv1d.bias",
    "x_proj.weight",
    "dt_proj.weight",
    "dt_proj.bias",
    "out_proj.weight",
)


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    before, layers, after = s.layers("mamba")
    embed = s.of(before, "embed", 1, "the part before the first layer")[0]
    found = [same(embed, s.key(embed, "weight"), f"{base}embeddings.weight")]
    for k, layer in enumerate(layers):
        what, h = f"layer {k}", f"{base}layers.{k}."
        (norm,) = s.of(layer, "rmsnorm", 1, what)
        (mixer,) = s.of(layer, "mamba", 1, what)
        found.append(same(norm, s.key(norm, "weight"), h + "norm.weight"))
        found += [same(mixer, s.key(mixer, name), f"{h}mixer.{name}") for name in MIXER]
    final = s.of(after, "rmsnorm")
    if final:
        found.append(same(final[0], s.key(final[0], "weight"), f"{base}norm_f.weight"))
    from .gpt2 import lm_head

    found += lm_head(s, after, embed, names, "lm_head.weight", f"{base}embeddings.weight")
    return found


def hf_config(s: Structure) -> dict:
    before, layers, after = s.layers("mamba")
    embed = s.of(before, "embed")[0]
    args = s.attrs(embed).args
    mixer = s.attrs(s.of(layers[0], "mamba")[0]).args
    return {
        "model_type": "mamba",
        "architectures": ["MambaForCausalLM"],
        "vocab_size": args.vocab,
        "hidden_size": args.dim,
        "state_size": mixer.state,
        "expand": mixer.expand,
        "conv_kernel": mixer.conv,
        "intermediate_size": mixer.expand * args.dim,
        "time_step_rank": -(-args.dim // 16),
        "num_hidden_layers": len(layers),
        "layer_norm_epsilon": s.attrs(s.of(layers[0], "rmsnorm")[0]).args.eps,
        "use_bias": False,
        "use_conv_bias": True,
        "tie_word_embeddings": s.untied_head(after, embed) is None,
    }
