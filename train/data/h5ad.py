"""AnnData `.h5ad` files (read with anndata): cells × genes, with per-cell annotations in `obs`.

- For a `[genes]` input (AttOmics-style): each cell's expression vector, the label an `obs` column
  (`data.options.label`); optionally normalised to 10,000 counts per cell (`normalize=true`), log1p'd
  (`log1p=true`) and cut to the most variable genes (`hvg=N`, by variance after the other steps).
- For a `tokens[rank]` input (Cell2Sentence-style): each cell as the sentence of its `length` most
  expressed genes (gene_tokens.py); a language model without a label, a classifier with one. The
  gene vocabulary (`var_names`) is saved in the run; with a published tokenizer
  (`data.options.tokenizer`, or that of the published weights being fine-tuned) the sentences are
  text it reads, and the run keeps it instead.
Cell barcodes (`obs_names`) are kept for `predict`."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import TrainError
from .dataset import Dataset, split_tensors
from .gene_tokens import GeneTokenizer, cell_sentences, next_gene_targets, published_sentences
from .options import resolve
from .record_ids import class_ids, ids_by_split

H5AD_OPTIONS = {"label": "", "normalize": False, "log1p": False, "hvg": 0, "length": 32, "tokenizer": ""}


def read_h5ad(path: Path):
    if not path.is_file():
        raise TrainError(f"data file {path} does not exist")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's own deprecation notices are not the user's business
        import anndata

        try:
            backed = anndata.read_h5ad(path, backed="r")  # the matrix's shape and type, not its values
            try:
                _check_stored_size(path, backed.X)
            finally:
                backed.file.close()
            return anndata.read_h5ad(path)
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise TrainError(f"{path}: not a readable .h5ad file ({error})") from None


def _check_stored_size(path: Path, stored) -> None:
    """Refuse a dense matrix that would not fit in free memory once read, before reading it: a
    compressed file of kilobytes can hold zeros of any size. (A sparse one is checked as it is made
    dense, by expression_matrix.)"""
    if stored is None or not hasattr(stored, "chunks"):  # an h5py dataset: stored dense
        return
    cells, genes = stored.shape
    dtype = np.dtype(stored.dtype)
    if dtype.kind in "biuf":
        _refuse_beyond_memory(path, cells, genes, cells * genes * (dtype.itemsize + (dtype != np.float32) * 4))


def expression_matrix(path: Path, adata) -> torch.Tensor:
    matrix = adata.X
    if matrix is None:
        raise TrainError(f"{path}: the file holds no expression matrix (X)")
    if np.dtype(matrix.dtype).kind not in "biuf":
        raise TrainError(f"{path}: the expression matrix holds {matrix.dtype} values, not numbers")
    _check_dense_size(path, matrix)
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    if matrix.shape[0] == 0:
        raise TrainError(f"{path} holds no cells")
    if not np.isfinite(matrix).all():
        raise TrainError(f"{path}: the expression matrix holds NaN or infinite values")
    return torch.from_numpy(matrix.astype(np.float32, copy=False))


def _check_dense_size(path: Path, matrix) -> None:
    """Refuse a matrix whose dense float32 form would not fit in free memory, before making it: a
    sparse file of a few megabytes can claim 200,000 × 200,000 cells and genes (149 GiB)."""
    cells, genes = matrix.shape
    dtype = np.dtype(matrix.dtype)
    dense = cells * genes * dtype.itemsize if hasattr(matrix, "toarray") else 0  # a sparse matrix made dense
    _refuse_beyond_memory(path, cells, genes, dense + (0 if dtype == np.float32 else cells * genes * 4))


def _refuse_beyond_memory(path: Path, cells: int, genes: int, need: int) -> None:
    from ...compiler.memory import beyond_free_memory, size_text

    if beyond := beyond_free_memory(need):
        raise TrainError(
            f"{path}: its expression matrix, {cells} cells × {genes} genes, needs {size_text(need)} dense, {beyond}",
            "keep the cells and genes the model reads (adata[cells, genes].copy()), or split the file",
        )


def cell_labels(path: Path, adata, column: str) -> list[str]:
    if column not in adata.obs.columns:
        columns = ", ".join(map(str, adata.obs.columns)) or "none"
        raise TrainError(
            f"{path}: no obs column '{column}' for the labels (the columns are: {columns})",
            "name one with --set data.options.label=COLUMN",
        )
    values = adata.obs[column]
    if values.isna().any():
        first = str(adata.obs_names[int(np.flatnonzero(values.isna().to_numpy())[0])])
        raise TrainError(f"{path}: obs column '{column}' is empty for cell '{first}' (and maybe others)")
    return [str(v) for v in values]


def refuse_empty_cells(path: Path, x: torch.Tensor, barcodes: list[str]) -> None:
    """A cell that expresses none of the genes has no sentence: nothing to read, no token to attend to."""
    empty = (x <= 0).all(1).nonzero().flatten().tolist()
    if empty:
        raise TrainError(
            f"{path}: {len(empty)} cell(s) express none of the genes, first '{barcodes[empty[0]]}'; a cell "
            "sentence names the genes a cell expresses",
            "filter them out first, e.g. scanpy.pp.filter_cells(adata, min_genes=1)",
        )


def preprocess(x: torch.Tensor, options: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised, log1p'd and gene-selected expression, and the kept genes' indices."""
    if options["normalize"]:
        x = x / x.sum(1, keepdim=True).clamp(min=1e-12) * 1e4
    if options["log1p"]:
        if (x < 0).any():
            raise TrainError("data.options.log1p: the expression matrix has negative values (already scaled?)")
        x = torch.log1p(x)
    keep = torch.arange(x.shape[1])
    if options["hvg"]:
        if options["hvg"] > x.shape[1]:
            raise TrainError(f"data.options.hvg={options['hvg']} is more than the {x.shape[1]} genes there are")
        keep = x.var(0).topk(options["hvg"]).indices.sort().values  # keep the file's gene order
        x = x[:, keep]
    return x, keep


def h5ad_dataset(
    path: Path, types, task: str, seed: int, val: float, test: float, options: dict, vocab, longest=None
) -> Dataset:
    options = resolve("an .h5ad file", options, H5AD_OPTIONS)
    if len(types) != 1:
        raise TrainError(f"{path}: an .h5ad file feeds one input; the model has {len(types)}: {', '.join(types)}")
    ((name, kind),) = types.items()
    adata = read_h5ad(path)
    x = expression_matrix(path, adata)
    barcodes = [str(b) for b in adata.obs_names]
    genes = [str(g) for g in adata.var_names]
    info = f"{path}: {x.shape[0]} cells x {x.shape[1]} genes"
    if kind.kind == "tokens":
        return _sentences(path, adata, x, genes, barcodes, name, seed, val, test, options, vocab, info, longest)
    if kind.kind != "float" or len(kind.dims) != 1:
        raise TrainError(f"{path}: cells feed a `[genes]` or a `tokens[rank]` input; '{name}' is {kind}")
    if not options["label"]:
        columns = ", ".join(map(str, adata.obs.columns)) or "none"
        raise TrainError(
            f"{path}: which obs column holds the labels? data.options.label names none",
            f"name it with --set data.options.label=COLUMN (the columns are: {columns})",
        )
    names = cell_labels(path, adata, options["label"])
    x, keep = preprocess(x, options)
    if x.shape[1] != kind.dims[0]:
        hint = f"declare `input {name}: [{x.shape[1]}]`"
        if len(genes) > kind.dims[0]:  # hvg cannot keep more genes than the file has
            hint += f", or keep the {kind.dims[0]} most variable genes with --set data.options.hvg={kind.dims[0]}"
        raise TrainError(f"{path}: {x.shape[1]} genes per cell; input '{name}' is declared [{kind.dims[0]}]", hint)
    classes, index = class_ids(names)
    y = torch.tensor([index[n] for n in names])
    stratify = bool(torch.bincount(y).min() >= 3)
    data = split_tensors(
        path.name,
        "classification",
        {name: x},
        y,
        seed,
        val,
        test,
        stratify=stratify,
        classes=len(classes),
        labels=classes,
        info=f"{info}, {len(classes)} classes ('{options['label']}')",
    )
    data.ids = ids_by_split(barcodes, seed, val, test, y if stratify else None)
    data.options = options
    return data


def _sentences(path, adata, x, genes, barcodes, name, seed, val, test, options, vocab, info, longest) -> Dataset:
    refuse_empty_cells(path, x, barcodes)
    if options["tokenizer"]:
        tokenizer, info, whole, (inputs, targets) = _published(path, x, genes, name, options, vocab, info, longest)
    else:
        tokenizer, info, whole, (inputs, targets) = _numbered_by_gene(path, x, genes, name, options, vocab, info)
    if options["label"]:
        names = cell_labels(path, adata, options["label"])
        classes, index = class_ids(names)
        y = torch.tensor([index[n] for n in names])
        data = split_tensors(
            path.name, "classification", whole, y, seed, val, test,
            classes=len(classes), labels=classes, tokenizer=tokenizer, info=info,
        )  # fmt: skip
    else:
        data = split_tensors(
            path.name, "language_model", inputs, targets, seed, val, test,
            classes=tokenizer.vocab, tokenizer=tokenizer, info=info,
        )  # fmt: skip
    data.ids = ids_by_split(barcodes, seed, val, test)
    data.options = options
    return data


def _numbered_by_gene(path, x, genes, name, options, vocab, info):
    """Cell sentences numbered by gene (the file's genes after four specials): the tokenizer, the data's
    account, a classifier's inputs and a language model's inputs and next-gene targets."""
    tokenizer = GeneTokenizer(genes)
    if vocab is not None and tokenizer.vocab > vocab:
        raise TrainError(
            f"{path}: {len(genes)} genes and 4 special tokens need {tokenizer.vocab} token ids; the model's "
            f"embedding has {vocab}",
            f"make it embed({tokenizer.vocab}, …) or more",
        )
    sentences = cell_sentences(x, options["length"])
    inputs, targets = next_gene_targets(sentences)
    info = f"{info} as sentences of their top {options['length']} genes"
    return tokenizer, info, {name: sentences[:, 1:]}, ({name: inputs}, targets)


def _published(path, x, genes, name, options, vocab, info, longest):
    """Cell sentences as text read with a published tokenizer (Cell2Sentence fine-tuned GPT-2 so), as
    `_numbered_by_gene` gives them."""
    from .text import open_tokenizer

    tokenizer = open_tokenizer(options["tokenizer"])
    tokenizer.fit(vocab, str(path))
    ids, mask = published_sentences(x, genes, options["length"], tokenizer, longest)
    info = f"{info} as sentences of their top {options['length']} genes, {ids.shape[1]} published tokens long"
    target = torch.where(mask[:, 1:], ids[:, 1:], -100)  # padding is no next token
    return tokenizer, info, {name: ids, f"{name}_mask": mask}, ({name: ids[:, :-1]}, target)
