"""Hugging Face `t5` (T5Model, T5ForConditionalGeneration, T5EncoderModel) onto `std:t5` specs
(specs/reference/t5_small.cram):

    shared                               the embed before the encoder's first layer (the decoder's
                                         embed shares it: `embed(…, share = tok)`)
    encoder.block.k.layer.0              layer k's rmsnorm_1 and self-attention ({q,k,v,o} -> *_proj)
    encoder.block.k.layer.1              its rmsnorm_2 and feed-forward (DenseReluDense.wi, wo)
    encoder.final_layer_norm             the rmsnorm after the encoder's last layer
    decoder.block.k.layer.0, 1, 2        self-attention, cross-attention (EncDecAttention), feed-forward
    decoder.final_layer_norm             the rmsnorm after the decoder's last layer
    lm_head (absent when tied)           a head as wide as the vocabulary; tied: the shared table

The relative position bias: Hugging Face keeps one table per stack, in layer 0
(`block.0.layer.0.SelfAttention.relative_attention_bias`), and adds the same bias in every layer; a
spec has one table per attention call that declares one (`buckets = 32` on each layer). Loading
copies layer 0's table into every table of the stack, so a spec whose layers all have one computes
what Hugging Face computes. Writing back writes the one table, and refuses when the layers' tables
differ (fine-tuned apart: no Hugging Face T5 computes that) or when only some layers have one (the
layout of specs/reference/t5_small.cram: Hugging Face would add the bias where the spec does not).

The decoder's output is scaled by d^-0.5 before a tied head (T5, and T5 1.0 checkpoints); untied
heads (T5 1.1) take it unscaled: `tie_word_embeddings` in config.json (`scale_decoder_outputs` in
configs written by transformers 5) says which.
"""

from __future__ import annotations

import math

import torch

from ..errors import TrainError
from .structure import Link, Structure, same

NAME = "t5"
SPEC = "specs/reference/t5_small.cram (buckets = N on every layer)"  # a spec of this layout, named in errors
MODEL_TYPES = ("t5",)
BASES = ("",)
MARK = "encoder.block.0.layer.0.SelfAttention.q.weight"
EPS = ("layer_norm_epsilon", "rmsnorm")  # the config key of the norms' ε, and the spec block it must agree with
TABLE = "layer.0.SelfAttention.relative_attention_bias.weight"


def check_config(config: dict | None) -> None:
    """T5 1.1's gated feed-forward has a third dense layer that std:t5's t5_ffn does not."""
    kind = (config or {}).get("feed_forward_proj", "relu")
    if kind != "relu":
        raise TrainError(
            f"the checkpoint's feed-forward is '{kind}' (T5 1.1, Flan-T5: wi_0, wi_1 and wo); cramnet maps "
            "T5's ReLU feed-forward (wi and wo, feed_forward_proj 'relu') only",
            "load a T5 1.0 checkpoint (t5-small, t5-base, …)",
        )


class _Stacks:
    """The spec as T5's two stacks: the embed, the encoder's layers and final nodes, the decoder's."""

    def __init__(self, s: Structure):
        before, layers, after = s.layers("attention")
        self.embed = s.of(before, "embed", 1, "the part before the first layer")[0]
        self.encoder = [layer for layer in layers if not s.of(layer, "cross_attention")]
        self.decoder = [layer for layer in layers if s.of(layer, "cross_attention")]
        if layers != self.encoder + self.decoder:
            raise TrainError(
                f"{s.where(self.decoder[0][0])}: a decoder layer before the encoder's last layer",
                "write the encoder's layers first, as specs/reference/t5_small.cram does",
            )
        start = s.attrs(self.decoder[0][0]).order if self.decoder else math.inf
        self.encoder_end = [n for n in after if s.attrs(n).order < start]
        self.decoder_end = [n for n in after if s.attrs(n).order > start]


def copied(s: Structure, nodes: list[str], keys: list[str], name: str, what: str, partial: list[str]) -> Link:
    """One checkpoint tensor into several spec tensors (a copy each, so that none is tied to another);
    written back once, when every copy is still equal to the first — and only if the spec has no layer
    without one (`partial`)."""

    def load(ts):
        return [ts[0]] + [ts[0].clone() for _ in keys[1:]]

    def save(ts):
        if partial:
            raise TrainError(
                f"{s.where(partial[0])} has no {what}, but Hugging Face's T5 adds layer 0's in every layer: "
                "written back, the model would compute something else",
                "give every layer of the stack its table (buckets = N on each t5_*_layer call) before training",
            )
        for key, tensor in zip(keys[1:], ts[1:]):
            if not torch.equal(tensor, ts[0]):
                gap = float((tensor.float() - ts[0].float()).abs().max())
                raise TrainError(
                    f"'{key}' differs from '{keys[0]}' (by up to {gap:.3g}): Hugging Face's T5 has one {what} "
                    f"per stack ('{name}'), so these weights have no Hugging Face layout",
                    "keep the copies equal while fine-tuning: --freeze '*.relative_bias' fixes every table",
                )
        return [ts[0]]

    return Link(nodes[0], tuple(keys), (name,), load, save)


def _attention(s: Structure, node: str, name: str) -> list[Link]:
    return [same(node, s.key(node, f"{p}_proj.weight"), f"{name}.{p}.weight") for p in "qkvo"]


def _dense(s: Structure, nodes: list[str], name: str) -> list[Link]:
    return [same(node, s.key(node, "weight"), f"{name}.{p}.weight") for node, p in zip(nodes, ("wi", "wo"))]


def _norm(s: Structure, node: str, name: str) -> Link:
    return same(node, s.key(node, "weight"), f"{name}.layer_norm.weight")


def _tables(s: Structure, layers: list[list[str]], stack: str) -> list[Link]:
    nodes, keys, partial = [], [], []
    for layer in layers:
        (attention,) = s.of(layer, "attention", 1)
        key = s.key(attention, "relative_bias.weight")
        (nodes if s.has(key) else partial).append(attention)
        keys += [key] if s.has(key) else []
    if not nodes:
        return []
    return [copied(s, nodes, keys, f"{stack}.block.0.{TABLE}", "relative position table", partial)]


def links(s: Structure, names: dict[str, tuple[int, ...]], base: str) -> list[Link]:
    t = _Stacks(s)
    found = [same(t.embed, s.key(t.embed, "weight"), "shared.weight")]
    for k, layer in enumerate(t.encoder):
        what, h = f"encoder layer {k}", f"encoder.block.{k}."
        norm_1, norm_2 = s.of(layer, "rmsnorm", 2, what)
        (attention,) = s.of(layer, "attention", 1, what)
        found += [_norm(s, norm_1, h + "layer.0"), _norm(s, norm_2, h + "layer.1")]
        found += _attention(s, attention, h + "layer.0.SelfAttention")
        found += _dense(s, s.of(layer, "dense", 2, what), h + "layer.1.DenseReluDense")
    found += _tables(s, t.encoder, "encoder")
    norm = s.of(t.encoder_end, "rmsnorm", 1, "the part after the encoder's last layer")[0]
    found.append(same(norm, s.key(norm, "weight"), "encoder.final_layer_norm.weight"))
    if not t.decoder:
        return found
    for node in s.of(t.encoder_end, "embed"):  # the decoder's embed, when it has a table of its own
        if s.key(node, "weight") != s.key(t.embed, "weight") and s.weighted(node):
            raise TrainError(
                f"{s.where(node)} has a token table of its own; T5's decoder reads the encoder's",
                "share it: embed(vocab, d, share = tok)",
            )
    for k, layer in enumerate(t.decoder):
        what, h = f"decoder layer {k}", f"decoder.block.{k}."
        norms = s.of(layer, "rmsnorm", 3, what)
        (attention,) = s.of(layer, "attention", 1, what)
        (cross,) = s.of(layer, "cross_attention", 1, what)
        found += [_norm(s, norm, f"{h}layer.{i}") for i, norm in enumerate(norms)]
        found += _attention(s, attention, h + "layer.0.SelfAttention")
        found += _attention(s, cross, h + "layer.1.EncDecAttention")
        found += _dense(s, s.of(layer, "dense", 2, what), h + "layer.2.DenseReluDense")
    found += _tables(s, t.decoder, "decoder")
    final = s.of(t.decoder_end, "rmsnorm")
    if final:
        found.append(same(final[0], s.key(final[0], "weight"), "decoder.final_layer_norm.weight"))
    from .gpt2 import lm_head

    return found + lm_head(s, t.decoder_end, t.embed, names, "lm_head.weight", "shared.weight")


def _scaled(config: dict) -> bool:
    """Whether the checkpoint scales the decoder's output before its head (transformers 5 writes
    `scale_decoder_outputs`; earlier configs say it with `tie_word_embeddings`)."""
    return bool(config.get("scale_decoder_outputs", config.get("tie_word_embeddings", True)))


def _head_scale(s: Structure, t: _Stacks) -> float | None:
    scales = s.of(t.decoder_end, "scale")
    return float(s.attrs(scales[0]).args.c) if scales else None


def notes(s: Structure, config: dict) -> list[str]:
    """Where the spec computes differently from the checkpoint: layers without the bias table, another
    max_distance, a head scaled or not as the checkpoint's is not."""
    t = _Stacks(s)
    found = []
    for stack in (t.encoder, t.decoder):
        attentions = [s.of(layer, "attention")[0] for layer in stack]
        without = [a for a in attentions if not s.has(s.key(a, "relative_bias.weight"))]
        if without and len(without) < len(attentions):
            found.append(
                f"Hugging Face's T5 adds layer 0's relative position bias in every layer; {s.where(without[0])} "
                "has no table, so it computes differently (buckets = N on every layer copies the table into each)"
            )
        wanted = config.get("relative_attention_max_distance", 128)
        far = [a for a in attentions if a not in without and s.attrs(a).args.max_distance != wanted]
        if far:
            found.append(f"the checkpoint's max_distance is {wanted}, {s.where(far[0])} has another")
    heads = [n for n in s.of(t.decoder_end, "dense") if s.attrs(n).args.out == s.attrs(t.embed).args.vocab]
    if heads:
        factor = _head_scale(s, t)
        d = s.attrs(t.embed).args.dim
        if _scaled(config) and (factor is None or not math.isclose(factor, d**-0.5)):
            where = s.where(heads[0])
            found.append(f"the checkpoint scales the decoder's output by d^-0.5 = {d**-0.5:.6g} before {where}")
        elif not _scaled(config) and factor is not None:
            found.append(f"the checkpoint's head takes the decoder's output unscaled; the spec scales it by {factor}")
    return found


def hf_config(s: Structure) -> dict:
    t = _Stacks(s)
    args = s.attrs(t.embed).args
    attention = s.attrs(s.of(t.encoder[0], "attention")[0]).args
    attentions = [s.attrs(s.of(layer, "attention")[0]).args for layer in t.encoder + t.decoder]
    table = next((a for a in attentions if a.relative_bias), None)
    heads = [n for n in s.of(t.decoder_end, "dense") if s.attrs(n).args.out == args.vocab]
    tied = heads and not s.has(s.key(heads[0], "weight"))
    scaled = _head_scale(s, t) is not None
    if heads and scaled != bool(tied):
        raise TrainError(
            f"{s.where(heads[0])}: Hugging Face's T5 scales the decoder's output before a head tied to the "
            "token table and leaves an untied head's input unscaled; this spec does "
            + ("the one with an untied head" if scaled else "neither with a tied head"),
            "tie a scaled head (dense(vocab, bias = false, tie = tok)) or drop the scale before an untied one",
        )
    return {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration" if heads else "T5Model" if t.decoder else "T5EncoderModel"],
        "vocab_size": args.vocab,
        "d_model": args.dim,
        "d_kv": args.dim // attention.heads,
        "d_ff": s.attrs(s.of(t.encoder[0], "dense")[0]).args.out,
        "num_layers": len(t.encoder),
        "num_decoder_layers": len(t.decoder),
        "num_heads": attention.heads,
        "relative_attention_num_buckets": table.relative_bias if table else 32,
        "relative_attention_max_distance": table.max_distance if table else 128,
        "layer_norm_epsilon": s.attrs(s.of(t.encoder[0], "rmsnorm")[0]).args.eps,
        "feed_forward_proj": "relu",
        "is_encoder_decoder": bool(t.decoder),
        "tie_word_embeddings": bool(tied) if heads else True,
        "decoder_start_token_id": 0,
        "pad_token_id": 0,
        "eos_token_id": 1,
    }
