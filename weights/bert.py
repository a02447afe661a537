"""Hugging Face `bert` (BertModel, BertFor…) onto a post-LN spec (specs/bert_encoder.cram):

embeddings.word_embeddings        the embed before the first layer
embeddings.position_embeddings    its pos_embed, with token type 0's row added (a spec has no
                                  token types: every token is of type 0, as in one-segment input)
embeddings.LayerNorm              the layernorm before the first layer
encoder.layer.k.attention.self.{query,key,value}, attention.output.dense -> q, k, v, o
encoder.layer.k.attention.output.LayerNorm, output.LayerNorm -> the layer's two layernorms
encoder.layer.k.intermediate.dense, output.dense -> the layer's two dense calls
pooler.dense                      a dense of width d followed by tanh after the layers, if any and if the
                                  checkpoint has a pooler (BertForMaskedLM has none: the dense is new)
"""

from __future__ import annotations

import torch

from .structure import Link, Structure, pair, same

NAME = "bert"
SPEC = "specs/bert_encoder.cram without its cls_token"  # a spec of this layout, named in errors
MODEL_TYPES = ("bert",)
BASES = ("bert.", "")
MARK = "encoder.layer.0.attention.self.query.weight"
EPS = ("layer_norm_eps", "layernorm")  # the config key of the norms' ε, and the spec block it must agree with


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    before, layers, after = s.layers("attention")
    what = "the part before the first layer"
    embed = s.of(before, "embed", 1, what)[0]
    position = s.of(before, "pos_embed", 1, what)[0]
    norm = s.of(before, "layernorm", 1, what)[0]
    e = f"{base}embeddings."
    found = [same(embed, s.key(embed, "weight"), e + "word_embeddings.weight")]
    found.append(
        Link(
            position,
            (s.key(position, "weight"),),
            (e + "position_embeddings.weight", e + "token_type_embeddings.weight"),
            lambda ts: [ts[0] + ts[1][0]],
            lambda ts: [ts[0], torch.zeros(2, ts[0].shape[1], dtype=ts[0].dtype)],
        )
    )
    found += pair(s, norm, "", e + "LayerNorm")
    for k, layer in enumerate(layers):
        what, h = f"layer {k}", f"{base}encoder.layer.{k}."
        (attention,) = s.of(layer, "attention", 1, what)
        norm_1, norm_2 = s.of(layer, "layernorm", 2, what)
        up, down = s.of(layer, "dense", 2, what)
        for ours, theirs in (("q_proj", "self.query"), ("k_proj", "self.key"), ("v_proj", "self.value")):
            found += pair(s, attention, ours, f"{h}attention.{theirs}")
        found += pair(s, attention, "o_proj", h + "attention.output.dense")
        found += pair(s, norm_1, "", h + "attention.output.LayerNorm")
        found += pair(s, up, "", h + "intermediate.dense")
        found += pair(s, down, "", h + "output.dense")
        found += pair(s, norm_2, "", h + "output.LayerNorm")
    width = s.attrs(embed).args.dim
    graph = s.checked.graph
    for node in s.of(after, "dense"):
        followed = [graph.nodes[n].block for n in graph.successors(node)]
        if s.attrs(node).args.out == width and followed == ["tanh"] and f"{base}pooler.dense.weight" in names:
            found += pair(s, node, "", f"{base}pooler.dense")
            break
    return found


def hf_config(s: Structure) -> dict:
    before, layers, _ = s.layers("attention")
    embed, position = s.of(before, "embed")[0], s.of(before, "pos_embed")[0]
    norm = s.of(before, "layernorm")[0]
    args = s.attrs(embed).args
    return {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": args.vocab,
        "hidden_size": args.dim,
        "num_hidden_layers": len(layers),
        "num_attention_heads": s.attrs(s.of(layers[0], "attention")[0]).args.heads,
        "intermediate_size": s.attrs(s.of(layers[0], "dense")[0]).args.out,
        "max_position_embeddings": s.attrs(position).args.max_len,
        "type_vocab_size": 2,
        "layer_norm_eps": s.attrs(norm).args.eps,
        "hidden_act": "gelu",
    }
