"""The inputs of every record of a biological file, in the file's order and with its IDs, for
`cramnet predict`: read with the options the run was trained with, and nothing held out."""

from __future__ import annotations

from pathlib import Path

import torch

from .data.bio import is_bio_file
from .errors import TrainError


def bio_inputs(trained, file: Path) -> tuple[dict[str, torch.Tensor], list[str]] | None:
    """(inputs by name, record IDs) when `file` is a biological file, else None."""
    types = trained.checked.input_types
    if not is_bio_file(file, types):
        return None
    options = dict(trained.config["data"].get("options") or {})
    suffix = file.suffix.lower()
    if suffix == ".h5ad":
        return _cells(trained, file, options)
    if suffix == ".a3m" or file.is_dir() or len(types) == 2 and all(len(t.dims) == 3 for t in types.values()):
        return _families(file, types, options)
    if len(types) == 2:
        return _histories(trained, file, types, options)
    return _sequences(trained, file, options)


def _sequences(trained, file: Path, options: dict):
    from .data.fasta import FASTA_OPTIONS, encode_records, read_records
    from .data.options import resolve
    from .setup import sequence_limit, vocabulary

    options = resolve("a FASTA file", options, FASTA_OPTIONS)
    records = read_records(file)
    published = trained.tokenizer if getattr(trained.tokenizer, "kind", None) == "published" else None
    checked = trained.checked
    tokens, mask, _ = encode_records(file, records, options, vocabulary(checked), published, sequence_limit(checked))
    (name,) = trained.checked.input_types
    return {name: tokens, f"{name}_mask": mask}, [r for r, _, _ in records]


def _cells(trained, file: Path, options: dict):
    from .data.gene_tokens import GeneTokenizer, cell_sentences
    from .data.h5ad import H5AD_OPTIONS, expression_matrix, preprocess, read_h5ad, refuse_empty_cells
    from .data.options import resolve

    options = resolve("an .h5ad file", options, H5AD_OPTIONS)
    ((name, kind),) = trained.checked.input_types.items()
    adata = read_h5ad(file)
    x = expression_matrix(file, adata)
    barcodes = [str(b) for b in adata.obs_names]
    genes = [str(g) for g in adata.var_names]
    if kind.kind == "tokens" and getattr(trained.tokenizer, "kind", None) == "published":
        from .data.gene_tokens import published_sentences
        from .setup import sequence_limit

        refuse_empty_cells(file, x, barcodes)
        ids, mask = published_sentences(x, genes, options["length"], trained.tokenizer, sequence_limit(trained.checked))
        return {name: ids, f"{name}_mask": mask}, barcodes  # a classifier's: language models predict from text
    if kind.kind == "tokens":
        trained_genes = trained.tokenizer.names[4:] if isinstance(trained.tokenizer, GeneTokenizer) else genes
        x = _by_gene(file, x, genes, trained_genes)
        refuse_empty_cells(file, x, barcodes)
        sentences = cell_sentences(x, options["length"])
        return {name: sentences if trained.info["task"] == "language_model" else sentences[:, 1:]}, barcodes
    x, keep = preprocess(x, options | {"hvg": 0})
    kept = genes
    if options["hvg"]:  # the genes chosen on the training file, looked up here by name
        source = Path(trained.config["data"]["name"])
        if not source.is_file():
            raise TrainError(f"the run kept the most variable genes of {source}, which is no longer there")
        train_genes = [str(g) for g in read_h5ad(source).var_names]
        _, keep = preprocess(expression_matrix(source, read_h5ad(source)), options)
        kept = [train_genes[i] for i in keep.tolist()]
        x = _by_gene(file, x, genes, kept)
    if x.shape[1] != kind.dims[0]:
        raise TrainError(f"{file}: {x.shape[1]} genes per cell; the model reads {kind.dims[0]}")
    return {name: x}, barcodes


def _by_gene(file: Path, x: torch.Tensor, genes: list[str], wanted: list[str]) -> torch.Tensor:
    """The columns of `wanted` genes, by name; a gene the file lacks is an error."""
    where = {g: i for i, g in enumerate(genes)}
    missing = [g for g in wanted if g not in where]
    if missing:
        raise TrainError(f"{file}: {len(missing)} gene(s) of the trained model are missing, first '{missing[0]}'")
    return x[:, [where[g] for g in wanted]]


def _histories(trained, file: Path, types, options: dict):
    from .data.events import EVENT_OPTIONS, read_histories
    from .data.life_histories import history_tensors, split_inputs
    from .data.options import resolve

    options = resolve("an event table", options, EVENT_OPTIONS)
    codes_name, ages_name = split_inputs(types, str(file))
    persons, histories = read_histories(file, options)
    names = trained.info.get("labels") or []
    index = {name: i for i, name in enumerate(names) if i > 0}  # the training run's code ids
    unknown = sorted({c for h in histories for _, c in h} - set(index))
    if unknown:
        raise TrainError(f"{file}: event code '{unknown[0]}' was not in the training data ({len(unknown)} such codes)")
    codes, ages, _ = history_tensors([[(a, index[c]) for a, c in h] for h in histories], options["visits"])
    return {codes_name: codes, ages_name: ages}, persons


def _families(file: Path, types, options: dict):
    from .data.alignments import OTHER, alignment_files, read_alignment
    from .data.families import msa_features, pair_features, split_inputs

    msa_name, pair_name, c_m, c_z = split_inputs(types, str(file))
    files = alignment_files(file)
    read = [read_alignment(f)[1] for f in files]
    depth = options.get("depth") or min(len(ids) for ids in read)
    residues = options.get("residues") or min(ids.shape[1] for ids in read)
    ids = torch.stack([r[:depth, :residues] for r in read])
    msa = msa_features(ids.clamp(max=OTHER - 1), c_m)
    msa[..., :OTHER] = torch.nn.functional.one_hot(ids, OTHER + 1)[..., :OTHER].float()
    return {msa_name: msa, pair_name: pair_features(len(files), residues, c_z)}, [f.stem for f in files]
