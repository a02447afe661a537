"""Token blocks: embedding lookups of integer ids."""

from __future__ import annotations

from torch import nn

from .registry import Arg, Construct, Family, block

TOKENS = Family("tokens", "#e7dcc4", "Token embeddings, positions, class tokens and pooling over a sequence.")


@block(
    "embed",
    example=("tokens[7]", "embed(50, 8)"),
    family="tokens",
    args=(Arg("vocab", "int", doc="number of distinct ids", low=1), Arg("dim", "int", doc="embedding size", low=1)),
    params=lambda inputs, a: a.vocab * a.dim,
    module=lambda inputs, a: Construct(nn.Embedding, {"num_embeddings": a.vocab, "embedding_dim": a.dim}),
    weight=lambda inputs, a: (a.vocab, a.dim),
    accepts=("tokens",),
    decodes=True,
    positions="keep",  # tokens[seq] -> [seq, dim]: the same positions, so the padding mask carries on
)
def embed(inputs, a):
    """Looks each id up in a learned [vocab, dim] table (nn.Embedding); its weight can be tied.

    Shapes: tokens[seq] -> [seq, dim].
    """
    return inputs[0].with_dims(inputs[0].dims + (a.dim,))
