"""Cell sentences (Levine et al. 2024, Cell2Sentence): a cell written as the names of its most
expressed genes, in decreasing order. The gene vocabulary is saved in the run (run.json) so that
`predict` and `generate` map token ids back to gene names. Fine-tuning a published language model
(Cell2Sentence's GPT-2) writes each sentence as text and reads it with the model's own tokenizer."""

from __future__ import annotations

import torch

from .alphabets import published_rows

# four special tokens before the genes, as in specs/bio/cell2sentence.cram (20,000 genes + 4)
PAD, CELL, END, UNKNOWN = "<pad>", "<cell>", "<end>", "<unk>"
SPECIALS = (PAD, CELL, END, UNKNOWN)


class GeneTokenizer:
    """Gene names as token ids: the specials first, then the genes in the data's order."""

    kind = "genes"

    def __init__(self, genes: list[str]):
        self.names = list(SPECIALS) + list(genes)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.vocab = len(self.names)

    def encode(self, text: str) -> list[int]:
        """A sentence of gene names (spaces between) as ids; a sentence starts with <cell>."""
        ids = [self.index.get(name, self.index[UNKNOWN]) for name in text.split()]
        return ids if ids[:1] == [self.index[CELL]] else [self.index[CELL]] + ids

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.names[i] for i in ids if 0 <= i < self.vocab and self.names[i] != PAD)

    def to_json(self) -> dict:
        return {"kind": "genes", "genes": self.names[len(SPECIALS) :]}


def cell_sentences(expression: torch.Tensor, length: int) -> torch.Tensor:
    """(cells, length + 1) ids: <cell>, then the `length` most expressed genes of each cell (ties
    by gene order); genes a cell does not express give <pad>, which training ignores."""
    values, order = expression.topk(min(length, expression.shape[1]), dim=1, sorted=True)
    ids = order + len(SPECIALS)
    ids[values <= 0] = SPECIALS.index(PAD)
    if ids.shape[1] < length:
        ids = torch.cat([ids, torch.zeros(len(ids), length - ids.shape[1], dtype=torch.long)], dim=1)
    start = torch.full((len(ids), 1), SPECIALS.index(CELL), dtype=torch.long)
    return torch.cat([start, ids], dim=1)


def next_gene_targets(sentences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (all but the last token) and next-token targets, -100 where the next token is padding."""
    x, y = sentences[:, :-1], sentences[:, 1:].clone()
    y[y == SPECIALS.index(PAD)] = -100
    return x, y


LONGEST_TEXT = 1024  # tokens of a cell sentence read by a published tokenizer: GPT-2's context


def published_sentences(expression: torch.Tensor, genes: list[str], length: int, tokenizer, longest=None):
    """(cells, tokens) ids and the mask of real tokens: each cell's `length` most expressed genes as
    text ("CD3E CD3D …", the genes it expresses only) read with the published `tokenizer`, as long
    as the longest cell's, at most `longest` (the model's) and LONGEST_TEXT."""
    values, order = expression.topk(min(length, expression.shape[1]), dim=1, sorted=True)
    texts = [
        " ".join(genes[g] for g, v in zip(row.tolist(), value.tolist()) if v > 0) for row, value in zip(order, values)
    ]
    return published_rows(tokenizer, texts, 0, min(longest, LONGEST_TEXT) if longest else LONGEST_TEXT)
