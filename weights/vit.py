"""Hugging Face `vit` (ViTModel, ViTForImageClassification) onto a pre-LN ViT spec (specs/vit_b16.cram):

embeddings.patch_embeddings.projection  the patch_embed (a convolution of stride = kernel = patch)
embeddings.cls_token                    the cls_token, [1, 1, d] in both
embeddings.position_embeddings          [1, tokens, d] -> the pos_embed's [tokens, d]
encoder.layer.k.layernorm_before, layernorm_after -> the layer's two layernorms
encoder.layer.k.attention.attention.{query,key,value}, attention.output.dense -> q, k, v, o
encoder.layer.k.intermediate.dense, output.dense -> the layer's two dense calls
layernorm                               the layernorm after the last layer
classifier                              the head, when it has the checkpoint's classes; a head of
                                        another width is the spec's own (new)
"""

from __future__ import annotations

from .structure import Link, Structure, pair, same

NAME = "vit"
SPEC = "specs/vit_b16.cram"  # a spec of this layout, named in errors
MODEL_TYPES = ("vit",)
BASES = ("vit.", "")
MARK = "encoder.layer.0.layernorm_before.weight"
EPS = ("layer_norm_eps", "layernorm")  # the config key of the norms' ε, and the spec block it must agree with


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    before, layers, after = s.layers("attention")
    what = "the part before the first layer"
    patches = s.of(before, "patch_embed", 1, what)[0]
    token = s.of(before, "cls_token", 1, what)[0]
    position = s.of(before, "pos_embed", 1, what)[0]
    e = f"{base}embeddings."
    found = pair(s, patches, "", e + "patch_embeddings.projection")
    found.append(same(token, s.key(token, "token"), e + "cls_token"))
    found.append(
        Link(
            position,
            (s.key(position, "weight"),),
            (e + "position_embeddings",),
            lambda ts: [ts[0][0]],
            lambda ts: [ts[0][None]],
        )
    )
    for k, layer in enumerate(layers):
        what, h = f"layer {k}", f"{base}encoder.layer.{k}."
        before_norm, after_norm = s.of(layer, "layernorm", 2, what)
        (attention,) = s.of(layer, "attention", 1, what)
        up, down = s.of(layer, "dense", 2, what)
        found += pair(s, before_norm, "", h + "layernorm_before") + pair(s, after_norm, "", h + "layernorm_after")
        for ours, theirs in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value")):
            found += pair(s, attention, ours, f"{h}attention.attention.{theirs}")
        found += pair(s, attention, "o_proj", h + "attention.output.dense")
        found += pair(s, up, "", h + "intermediate.dense") + pair(s, down, "", h + "output.dense")
    final = s.of(after, "layernorm")
    if final:
        found += pair(s, final[0], "", f"{base}layernorm")
    heads = s.of(after, "dense")
    head = s.key(heads[-1], "weight") if heads else None
    if head and names.get("classifier.weight") == tuple(s.expected.get(head, ())):
        found += pair(s, heads[-1], "", "classifier")
    return found


def hf_config(s: Structure) -> dict:
    before, layers, after = s.layers("attention")
    patches = s.attrs(s.of(before, "patch_embed")[0])
    image = s.attrs(s.checked.inputs[0]).type
    heads = s.of(after, "dense")
    config = {
        "model_type": "vit",
        "architectures": ["ViTForImageClassification" if heads else "ViTModel"],
        "image_size": int(image.dims[-1]),
        "num_channels": int(image.dims[0]),
        "patch_size": patches.args.patch,
        "hidden_size": patches.args.dim,
        "num_hidden_layers": len(layers),
        "num_attention_heads": s.attrs(s.of(layers[0], "attention")[0]).args.heads,
        "intermediate_size": s.attrs(s.of(layers[0], "dense")[0]).args.out,
        "layer_norm_eps": s.attrs(s.of(layers[0], "layernorm")[0]).args.eps,
        "hidden_act": "gelu",
        "qkv_bias": True,
    }
    if heads:
        config["num_labels"] = s.attrs(heads[-1]).args.out
    return config
