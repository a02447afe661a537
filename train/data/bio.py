"""Biological data: the synthetic built-in sets of the specs in specs/bio/, which of them fits a
model, and which reader a biological file goes to (by its extension and the model's inputs).

- `.fasta .fa .faa .fna .fas` for a `tokens[length]` input: fasta.py, a protein or nucleotide
  sequence per record, labels from the header or a side CSV;
- `.a3m` (or FASTA, or a folder of them) for an MSA `[S, R, c]` and a pair `[R, R, c]` input:
  alignments.py, one family per file, distances from a `.pdb` beside it;
- `.h5ad` for a `[genes]` or a `tokens[rank]` input: h5ad.py, expression vectors or cell sentences;
- `.csv .tsv .parquet` with person, age and code columns, for `tokens[visits]` and `[visits, 1]`
  inputs: events.py.
"""

from __future__ import annotations

from pathlib import Path

from ...blocks.tensor_type import TensorType
from .dataset import Dataset
from .families import FAMILY_OPTIONS, families
from .life_histories import HISTORY_OPTIONS, event_inputs, life_histories
from .synthetic_bio import CELL_OPTIONS, MOTIFS, PROTEIN_OPTIONS, SENTENCE_OPTIONS, cells, proteins, sentences

# name: (loader, its options, default (val, test) fractions); loaders take all the model's inputs
BIO_BUILTIN = {
    "proteins": (proteins, PROTEIN_OPTIONS, (0.15, 0.15)),
    "cells": (cells, CELL_OPTIONS, (0.15, 0.15)),
    "cell_sentences": (sentences, SENTENCE_OPTIONS, (0.1, 0.1)),
    "life_histories": (life_histories, HISTORY_OPTIONS, (0.15, 0.15)),
    "families": (families, FAMILY_OPTIONS, (0.15, 0.15)),
}
# what each trains well with on a laptop CPU, where the config leaves them open
BIO_TRAINING = {
    "proteins": {"epochs": 15, "batch_size": 32, "lr": 1e-3},
    "cells": {"epochs": 10, "batch_size": 32, "lr": 1e-3},
    "cell_sentences": {"epochs": 6, "batch_size": 16, "lr": 3e-3},
    "life_histories": {"epochs": 10, "batch_size": 64, "lr": 1e-3},
    "families": {"epochs": 25, "batch_size": 16, "lr": 2e-3},  # still learning coevolution at 10
}
FASTA = (".fasta", ".fa", ".faa", ".fna", ".fas")
ALIGNMENT = (".a3m",)
TABLES = (".tsv", ".parquet")  # .csv goes to the event reader when its columns are events
GENE_WORDS = ("gene", "cell")


def default_bio_data(inputs: dict[str, TensorType], outputs: dict[str, TensorType]) -> str | None:
    """The synthetic set that fits a model's inputs and first output, or None."""
    kinds = sorted(t.kind for t in inputs.values())
    out = next(iter(outputs.values()), None)
    if out is None:
        return None
    if kinds == ["float", "tokens"] and len(out.dims) == 2:
        return "life_histories"
    ranks = sorted(len(t.dims) for t in inputs.values())
    if kinds == ["float", "float"] and ranks == [3, 3] and any(len(o.dims) == 3 for o in outputs.values()):
        return "families"
    if len(inputs) != 1:
        return None
    ((name, kind),) = inputs.items()
    if kind.kind == "tokens" and tuple(out.dims) == (len(MOTIFS),):  # the seven top-level EC classes
        return "proteins"
    if kind.kind == "tokens" and len(out.dims) == 2 and any(w in name.lower() for w in GENE_WORDS):
        return "cell_sentences"
    if kind.kind == "float" and len(kind.dims) == 1 and isinstance(kind.dims[0], int) and kind.dims[0] >= 100:
        return "cells" if len(out.dims) == 1 else None
    return None


def is_bio_file(path: Path, types: dict[str, TensorType]) -> bool:
    suffix = path.suffix.lower()
    if suffix in FASTA + ALIGNMENT + (".h5ad",) + TABLES or _alignment_folder(path, types):
        return True
    return suffix == ".csv" and _looks_like_events(path, types)


def reads_sequences(path: Path, types: dict[str, TensorType]) -> bool:
    """A file of sequences a tokenizer can read: FASTA, one sequence per record (not an alignment for an
    MSA model), or an .h5ad's cells as sentences of gene names (for a token input)."""
    suffix = path.suffix.lower()
    if suffix == ".h5ad":
        return len(types) == 1 and next(iter(types.values())).kind == "tokens"
    return suffix in FASTA and not _msa_model(types)


def _msa_model(types: dict[str, TensorType]) -> bool:
    """Two float inputs of rank 3: an MSA `[S, R, c]` and a pair `[R, R, c]`."""
    return len(types) == 2 and all(t.kind == "float" and len(t.dims) == 3 for t in types.values())


def _alignment_folder(path: Path, types: dict[str, TensorType]) -> bool:
    """A folder of alignments, for a model that reads them; any other folder (`d.npz/`, or `data/` for
    an image model) is a mistake, told by the file reader as a directory."""
    return path.is_dir() and path.suffix == "" and _msa_model(types)


def _looks_like_events(path: Path, types: dict[str, TensorType]) -> bool:
    """A table for a model with code and age inputs (whatever its columns are named: the options name
    them), or one whose header names a person, an age and a code (told if the model does not fit)."""
    from .events import is_event_table

    return event_inputs(types) is not None or (len(types) == 2 and is_event_table(path))


def bio_file(
    path: Path, types, task: str, seed: int, val: float, test: float, options: dict, vocab, longest=None
) -> Dataset:
    """A data set from a biological file, read by the reader its extension and the model's inputs pick;
    sequences are cut at `longest` tokens (the model's) where their length is left to the data."""
    suffix = path.suffix.lower()
    if _alignment_folder(path, types) or suffix in ALIGNMENT or (suffix in FASTA and _msa_model(types)):
        from .alignments import alignment_dataset

        return alignment_dataset(path, types, seed, val, test, options)
    if suffix in FASTA:
        from .fasta import fasta_dataset

        return fasta_dataset(path, types, task, seed, val, test, options, vocab, longest)
    if suffix == ".h5ad":
        from .h5ad import h5ad_dataset

        return h5ad_dataset(path, types, task, seed, val, test, options, vocab, longest)
    from .events import events_dataset

    return events_dataset(path, types, seed, val, test, options, vocab)
