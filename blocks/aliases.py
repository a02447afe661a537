"""Names people type for cramnet's blocks: PyTorch's (nn.Linear), Keras's (layers.Dense), papers'
(MHA) — read by the hint for an unknown block name — and the words of the language that are not
blocks. Kept beside the registry, since which block each name means is knowledge about blocks."""

from __future__ import annotations

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
    "output": "`output NAME` is a line of its own: name the value (`… as y`), then write `output y`",
    "input": "`input NAME: TYPE` is a line of its own; a pipeline starts from the input's name",
}
