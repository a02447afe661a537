"""The letters of biological sequences as token ids: the 25-letter amino-acid alphabet of EnzBERT
(specs/bio/enzbert.cram) and nucleotides with N. A letter outside the alphabet is an error naming
the record and position, unless the user asks for it to be read as the unknown letter."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import TrainError


@dataclass(frozen=True)
class Alphabet:
    option: str  # its data.options.alphabet value
    name: str
    letters: str  # id i is letters[i]
    unknown: str  # what an out-of-alphabet letter becomes when the user allows it

    @property
    def size(self) -> int:
        return len(self.letters)

    def encode(self, record: str, sequence: str, map_unknown: bool, where: str) -> torch.Tensor:
        """Token ids of one sequence (upper-cased; '*' stop codons and gaps dropped)."""
        index = {c: i for i, c in enumerate(self.letters)}
        ids = []
        for position, letter in enumerate(sequence.upper().replace("*", "").replace("-", "").replace(".", ""), 1):
            if letter not in index:
                if not map_unknown:
                    raise TrainError(
                        f"{where}: record '{record}' has {letter!r} at position {position}, outside the "
                        f"{self.name} alphabet ({self.letters})",
                        f"fix the record, or read such letters as {self.unknown} with --set data.options.unknown=map",
                    )
                letter = self.unknown
            ids.append(index[letter])
        return torch.tensor(ids, dtype=torch.long)


# 20 standard amino acids, the rare U (selenocysteine) and O (pyrrolysine), and the ambiguity codes
# B (D or N), Z (E or Q) and X (any): the 25 tokens of EnzBERT's embedding
PROTEIN = Alphabet("protein", "amino-acid", "ACDEFGHIKLMNPQRSTVWYUOBZX", "X")
DNA = Alphabet("dna", "nucleotide", "ACGTN", "N")
RNA = Alphabet("rna", "nucleotide", "ACGUN", "N")
ALPHABETS = {a.option: a for a in (PROTEIN, DNA, RNA)}


def guess_alphabet(sequences: list[str]) -> Alphabet:
    """Nucleotides when every letter is one (ACGTUN), amino acids otherwise."""
    letters = set("".join(sequences).upper()) - {"-", ".", "*"}
    if letters <= set("ACGTN"):
        return DNA
    if letters <= set("ACGUN"):
        return RNA
    return PROTEIN


def protein_model_warning(alphabet: Alphabet, vocab: int | None) -> str | None:
    """A guessed nucleotide alphabet for a model whose embedding is sized for amino acids (their 25
    letters, or 26 with padding): DNA given to a protein model, most likely, which would train on it."""
    if alphabet is PROTEIN or vocab not in (PROTEIN.size, PROTEIN.size + 1):
        return None
    return (
        f"the sequences look like nucleotides (only {alphabet.letters}), but the model's embedding has {vocab} "
        f"tokens, sized for the {PROTEIN.size}-letter amino-acid alphabet; they are read as nucleotides. To "
        "read them as amino acids: --set data.options.alphabet=protein; to confirm nucleotides: "
        f"--set data.options.alphabet={alphabet.option}"
    )


def crop_or_pad(ids: list[torch.Tensor], length: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, length) ids, cut at `length` or filled with `pad`, and the mask of real letters."""
    out = torch.full((len(ids), length), pad, dtype=torch.long)
    mask = torch.zeros(len(ids), length, dtype=torch.bool)
    for row, seq in enumerate(ids):
        n = min(len(seq), length)
        out[row, :n] = seq[:n]
        mask[row, :n] = True
    return out, mask


def published_rows(tokenizer, texts: list[str], length: int, longest: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, length) ids of `texts` read by a published tokenizer and the mask of real tokens; length 0:
    the longest text's, at most `longest`. Padding is the tokenizer's [PAD], else 0."""
    ids = tokenizer.rows(texts, length, longest)
    pad = tokenizer.pad if tokenizer.pad is not None else 0
    return crop_or_pad([torch.tensor(row, dtype=torch.long) for row in ids], length or max(map(len, ids)), pad)
