"""The letters of biological sequences as token ids: the 25-letter amino-acid alphabet of EnzBERT
(specs/bio/enzbert.cram) and nucleotides with N. A letter outside the alphabet is an error naming
the record and position, unless the user asks for it to be read as the unknown letter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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

    def encode(
        self, record: str, sequence: str, map_unknown: bool, where: str, keep: int | None = None
    ) -> torch.Tensor:
        """Token ids of one sequence (upper-cased; '*' stop codons and gaps dropped), its first `keep`
        only, though every letter is checked. Read in chunks through a table: a 300 MB record took 80 s
        and gigabytes as a Python list of ids."""
        table = np.full(256, -1, dtype=np.int64)  # code point -> id; -1 outside the alphabet
        table[[ord(c) for c in self.letters]] = np.arange(len(self.letters))
        kept, count, position = [], 0, 0
        for start in range(0, len(sequence), CHUNK):
            text = letters_of(sequence[start : start + CHUNK])
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            ids = table[np.minimum(codes, 255)]  # 255 (ÿ) is no letter, so neither is any code above it
            outside = np.flatnonzero(ids < 0)
            if outside.size and not map_unknown:
                raise TrainError(
                    f"{where}: record '{record}' has {text[outside[0]]!r} at position {position + outside[0] + 1}, "
                    f"outside the {self.name} alphabet ({self.letters})",
                    f"fix the record, or read such letters as {self.unknown} with --set data.options.unknown=map",
                )
            ids[outside] = self.letters.index(self.unknown)
            if keep is None or count < keep:
                kept.append(ids if keep is None else ids[: keep - count])
                count += len(kept[-1])
            position += len(text)
        return torch.from_numpy(np.concatenate(kept)) if kept else torch.zeros(0, dtype=torch.long)


CHUNK = 1 << 20  # letters encoded at a time


def letters_of(sequence: str) -> str:
    """A sequence as it is read: upper case, '*' stop codons and '-' and '.' gaps dropped."""
    return sequence.upper().replace("*", "").replace("-", "").replace(".", "")


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
