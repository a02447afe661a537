"""Synthetic biological data sets, small and seeded, each made by a stated rule so that what a model
learns from it is known. None of these is real data.

- proteins: random sequences over the 20 standard amino acids (uniform), each with one class motif
  planted at a random place; the class (EC1-EC7, like EC's top level) is the motif's. Motifs are
  written like PROSITE patterns (x: any residue) after real ones of enzymes in that class — the
  Rossmann GxGxxG (oxidoreductases), the kinase HRDxKxxN (transferases), the DEAD box (hydrolases),
  the thioredoxin-fold CGHC (isomerases), the aminoacyl-tRNA synthetase KMSKS (ligases), the ABC
  transporters' P-loop GxxxxGKT (translocases); DxDxDG (lyases) is invented. Real sequences are
  not: the rest of each protein is random.
- cells: counts of G genes drawn from a gamma-Poisson (negative binomial) around a per-gene base
  level; each of T cell types raises its own programme of genes (3x), and library sizes vary from
  cell to cell; normalised to 10,000 counts per cell and log1p'd, as the `.h5ad` reader can.
- cell_sentences: the same cells written as sentences of their most expressed gene names.
"""

from __future__ import annotations

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .alphabets import PROTEIN
from .dataset import split_tensors
from .gene_tokens import GeneTokenizer, cell_sentences, next_gene_targets

MOTIFS = ("GxGxxG", "HRDxKxxN", "DEAD", "DxDxDG", "CGHC", "KMSKS", "GxxxxGKT")  # EC1 ... EC7
PROTEIN_OPTIONS = {"count": 2000, "length": 32}
CELL_OPTIONS = {"count": 1000, "types": 5, "programme": 40}
SENTENCE_OPTIONS = {"count": 1000, "types": 5, "programme": 40, "genes": 2000, "length": 32}


def _one_input(types: dict[str, TensorType], data: str, want: str, example: str) -> tuple[str, TensorType]:
    if len(types) != 1 or next(iter(types.values())).kind != want:
        given = ", ".join(f"{n}: {t}" for n, t in types.items())
        raise TrainError(f"data '{data}' feeds one {want} input; the model has {given}", f"declare {example}")
    return next(iter(types.items()))


def proteins(types: dict[str, TensorType], seed: int, val: float, test: float, options: dict, task: str):
    name, _ = _one_input(types, "proteins", "tokens", "`input protein: tokens[length]`")
    count, length = options["count"], options["length"]
    longest = max(len(m) for m in MOTIFS)
    if length < longest:
        raise TrainError(f"data.options.length must be at least {longest} to hold a motif")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 20, (count, length), generator=g)  # ids 0-19: the standard amino acids
    y = torch.arange(count) % len(MOTIFS)
    starts = (torch.rand(count, generator=g) * (length - longest + 1)).long()
    for row in range(count):
        for offset, letter in enumerate(MOTIFS[int(y[row])]):
            if letter != "x":
                x[row, int(starts[row]) + offset] = PROTEIN.letters.index(letter)
    return split_tensors(
        "proteins",
        "classification",
        {name: x},
        y,
        seed,
        val,
        test,
        stratify=True,
        classes=len(MOTIFS),
        labels=[f"EC{c + 1}" for c in range(len(MOTIFS))],
        alphabet=PROTEIN.option,
        info=f"{count} synthetic proteins of {length} residues, 7 classes by planted motif ({', '.join(MOTIFS)})",
    )


def expression_profiles(count: int, genes: int, types: int, programme: int, seed: int):
    """(cells, genes) log1p-normalised expression and each cell's type (see the module's docstring)."""
    if types * programme > genes:
        raise TrainError(f"{types} programmes of {programme} genes need at least {types * programme} genes")
    g = torch.Generator().manual_seed(seed)
    base = torch.exp(torch.randn(genes, generator=g) * 1.2 - 1.0)  # mean counts per gene, log-normal
    chosen = torch.randperm(genes, generator=g)[: types * programme].reshape(types, programme)
    cell_type = torch.arange(count) % types
    rate = base.expand(count, genes).clone()
    rate[torch.arange(count)[:, None], chosen[cell_type]] *= 3.0
    library = torch.exp(torch.randn(count, 1, generator=g) * 0.3)  # sequencing depth per cell
    dispersion = 2.0  # gamma shape: a negative binomial with this inverse dispersion
    mean = rate * library
    gamma = torch._standard_gamma(torch.full_like(mean, dispersion), generator=g) * mean / dispersion
    counts = torch.poisson(gamma, generator=g)
    normalised = counts / counts.sum(1, keepdim=True).clamp(min=1) * 1e4
    return torch.log1p(normalised), cell_type


def cells(types: dict[str, TensorType], seed: int, val: float, test: float, options: dict, task: str):
    name, kind = _one_input(types, "cells", "float", "`input expression: [2000]` (one value per gene)")
    if len(kind.dims) != 1 or not isinstance(kind.dims[0], int):
        raise TrainError(f"data 'cells' gives one vector of genes per cell; input '{name}' is {list(kind.dims)}")
    genes = kind.dims[0]
    x, y = expression_profiles(options["count"], genes, options["types"], options["programme"], seed)
    return split_tensors(
        "cells",
        "classification",
        {name: x},
        y,
        seed,
        val,
        test,
        stratify=True,
        classes=options["types"],
        labels=[f"type{c + 1}" for c in range(options["types"])],
        info=f"{options['count']} synthetic cells x {genes} genes, {options['types']} types marked by "
        f"gene programmes of {options['programme']}",
    )


def sentences(types: dict[str, TensorType], seed: int, val: float, test: float, options: dict, task: str):
    name, _ = _one_input(types, "cell_sentences", "tokens", "`input genes: tokens[rank]`")
    genes = options["genes"]
    x, _ = expression_profiles(options["count"], genes, options["types"], options["programme"], seed)
    tokenizer = GeneTokenizer([f"GENE{i:05d}" for i in range(1, genes + 1)])
    inputs, targets = next_gene_targets(cell_sentences(x, options["length"]))
    return split_tensors(
        "cell_sentences",
        "language_model",
        {name: inputs},
        targets,
        seed,
        val,
        test,
        tokenizer=tokenizer,
        classes=tokenizer.vocab,
        info=f"{options['count']} synthetic cells as sentences of their top {options['length']} of {genes} genes",
    )
