"""Hints for a block name the compiler does not know: a standard-library block without its `use`,
the PyTorch or Keras name of a cramnet block, a combinator written as a block, or the nearest name."""

from __future__ import annotations

from collections.abc import Iterable

from ..dsl.errors import did_you_mean
from .stdlib import std_blocks

# What people type from PyTorch (nn.X), Keras (layers.X) and papers, keyed lower case without
# underscores, mapped to the cramnet block that does the same.
FOREIGN_NAMES: dict[str, str] = {
    "linear": "dense",
    "fc": "dense",
    "lazylinear": "dense",
    "conv": "conv2d",
    "convolution2d": "conv2d",
    "conv2dtranspose": "conv_transpose2d",
    "convtranspose2d": "conv_transpose2d",
    "convolution1d": "conv1d",
    "layernormalization": "layernorm",
    "batchnormalization": "batchnorm",
    "batchnorm1d": "batchnorm",
    "batchnorm2d": "batchnorm",
    "bn": "batchnorm",
    "ln": "layernorm",
    "multiheadattention": "attention",
    "mha": "attention",
    "attn": "attention",
    "selfattention": "attention",
    "crossattention": "cross_attention",
    "embedding": "embed",
    "positionalencoding": "pos_embed",
    "positionalembedding": "pos_embed",
    "maxpooling2d": "maxpool2d",
    "averagepooling2d": "avgpool2d",
    "maxpooling1d": "maxpool1d",
    "averagepooling1d": "avgpool1d",
    "globalaveragepooling2d": "adaptive_avgpool2d",
    "adaptiveavgpool2d": "adaptive_avgpool2d",
    "upsampling2d": "upsample",
    "leakyrelu": "leaky_relu",
    "swish": "silu",
    "concatenate": "concat",
    "multiply": "mul",
    "subtract": "sub",
    "gcnconv": "gcn",
    "gatconv": "gat",
    "ginconv": "gin",
    "chebconv": "cheb",
    "rgcnconv": "rgcn",
    "rmsnormalization": "rmsnorm",
    "groupnormalization": "groupnorm",
    "transformerencoderlayer": "post_ln",
    "transformerdecoderlayer": "decoder_layer",
    "transformerblock": "pre_ln",
    "mlp": "ffn",
    "feedforward": "ffn",
    "resblock": "basic",
    "mixtureofexperts": "moe",
}

# Language forms, not blocks: written with braces or arrows (docs/language.md §3–4).
SYNTAX_WORDS: dict[str, str] = {
    "residual": "`residual { … }` adds a body's output to its input",
    "repeat": "`repeat N { … }` (or `STAGE * N`) copies a body N times",
    "parallel": "`parallel(merge = concat) { a | b }` runs branches on one input",
    "sequential": "stages joined by `->` are a sequence",
    "block": "`block NAME(params) { … }` defines a block; call it by its name",
    "use": '`use "std:NAME"` at the top of the file brings in a file of blocks',
}


def unknown_block_hint(name: str, candidates: Iterable[str]) -> str:
    """The most useful hint for `name`, which is neither a block nor a bound value here."""
    candidates = set(candidates)
    std = std_blocks().get(name)
    if std is not None:
        return f"'{name}' is in the standard library: add {std.use} at the top of the file"
    if name in SYNTAX_WORDS:
        return f"'{name}' is part of the language, not a block: {SYNTAX_WORDS[name]} (see docs/language.md)"
    key = name.lower().replace("_", "")
    for known in sorted(candidates | set(std_blocks())):
        if known.lower().replace("_", "") == key:
            return f"cramnet calls it '{known}'" + _use_of(known, candidates)
    if key in FOREIGN_NAMES:
        target = FOREIGN_NAMES[key]
        return f"'{name}' is cramnet's '{target}'" + _use_of(target, candidates)
    return did_you_mean(name, candidates) or "`cramnet blocks` lists the blocks"


def _use_of(name: str, visible: set[str]) -> str:
    std = std_blocks().get(name)
    return f" ({std.use} brings it in)" if std is not None and name not in visible else ""
