"""Training data: built-in sets (no network needed) and user files, split into fixed, seeded
train/validation/test parts. `load_data` picks by name or path; `default_data` by the model."""

from __future__ import annotations

from pathlib import Path

from ...blocks.tensor_type import TensorType
from ...dsl.errors import did_you_mean
from ..errors import TrainError
from . import builtin, pairs, sequences, shapes, text
from .bio import BIO_BUILTIN, bio_file, default_bio_data, is_bio_file, reads_sequences
from .dataset import Dataset
from .files import file_dataset, refuse_compressed, unlabelled_inputs
from .options import resolve
from .splits import TensorSplit, partition

# name: (loader, its options, default (val, test) fractions)
BUILTIN = {
    "digits": (builtin.digits, {}, (0.15, 0.15)),
    "breast_cancer": (builtin.breast_cancer, {}, (0.15, 0.15)),
    "karate": (builtin.karate, {}, (0.2, 0.4)),
    "graphs": (builtin.graphs, builtin.GRAPH_OPTIONS, (0.15, 0.15)),
    "kan_toy": (builtin.kan_toy, builtin.KAN_OPTIONS, (0.15, 0.15)),
    "adding": (sequences.adding, sequences.ADDING_OPTIONS, (0.1, 0.1)),
    "selective_copy": (sequences.selective_copy, sequences.COPY_OPTIONS, (0.1, 0.1)),
    "induction": (sequences.induction, sequences.INDUCTION_OPTIONS, (0.1, 0.1)),
    "text": (None, text.TEXT_OPTIONS, (0.1, 0.1)),
    "shapes": (shapes.shapes, shapes.SHAPES_OPTIONS, (0.15, 0.15)),
    "digit_pairs": (pairs.digit_pairs, pairs.PAIRS_OPTIONS, (0.15, 0.15)),
}
SEVERAL_INPUTS = {"digit_pairs"}  # loaders that take every input: loader(types, seed, val, test, options)

__all__ = [
    "BIO_BUILTIN",
    "BUILTIN",
    "Dataset",
    "default_data",
    "load_data",
    "reads_text",
    "takes_tokenizer",
    "unlabelled_splits",
]


def reads_text(name: str) -> bool:
    """Whether data `name` is text a tokenizer reads (the built-in corpus or a .txt file)."""
    return name == "text" or (name not in BUILTIN and Path(name).suffix.lower() == ".txt")


def takes_tokenizer(name: str, types: dict[str, TensorType]) -> bool:
    """Whether data `name` is read with data.options.tokenizer: text, or a FASTA file of sequences."""
    return reads_text(name) or (name not in BUILTIN and reads_sequences(Path(name), types))


def load_data(
    name: str,
    types: dict[str, TensorType],
    task: str,
    seed: int,
    fractions: tuple,
    options: dict,
    vocab_limit: int | None = None,
    tokenizer=None,
    longest: int | None = None,
) -> Dataset:
    """The data set `name` (built-in) or at path `name`, fitted to the model's inputs `types`; text is
    read with `tokenizer` where given (a trained run's), else as data.options.tokenizer says."""
    path = Path(name)
    if name in BIO_BUILTIN:  # biological sets feed several inputs at once
        loader, declared, own = BIO_BUILTIN[name]
        val, test = _fractions(fractions, own)
        resolved = resolve(name, options, declared)
        dataset = loader(types, seed, val, test, resolved, task)
        dataset.options = resolved
        return dataset
    if name not in BUILTIN and (path.suffix or path.exists()):
        val, test = _fractions(fractions, (0.15, 0.15))
        refuse_compressed(path)
        if is_bio_file(path, types):
            return bio_file(path, types, task, seed, val, test, options, vocab_limit, longest)
        if reads_text(name):
            return _text(types, seed, val, test, options, text.read_text(path), str(path), vocab_limit, tokenizer)
        if options:
            raise TrainError(f"data.options are for built-in data sets; {path} takes none")
        return file_dataset(path, types, task, seed, val, test)
    if name not in BUILTIN:
        raise TrainError(
            f"no built-in data set '{name}' and no such file",
            did_you_mean(name, [*BUILTIN, *BIO_BUILTIN]) or f"built-in: {', '.join([*BUILTIN, *BIO_BUILTIN])}",
        )
    loader, declared, own = BUILTIN[name]
    val, test = _fractions(fractions, own)
    resolved = resolve(name, options, declared)
    if loader is None:
        return _text(types, seed, val, test, resolved, text.builtin_corpus(), "text", vocab_limit, tokenizer)
    if name in SEVERAL_INPUTS:
        dataset = loader(types, seed, val, test, resolved)
        dataset.options = resolved
        return dataset
    if len(types) != 1:
        raise TrainError(f"data '{name}' feeds one input; the model has {len(types)}: {', '.join(types)}")
    ((input_name, kind),) = types.items()
    dataset = loader(input_name, kind, seed, val, test, resolved, task)
    dataset.options = resolved
    return dataset


def unlabelled_splits(
    name: str, types: dict[str, TensorType], seed: int, fractions: tuple
) -> dict[str, TensorSplit] | None:
    """The rows of a data file without targets (an .npz, .safetensors or .csv holding inputs alone),
    split by the seeded fractions `load_data` splits a file with; None where `name` is built-in data
    or a file that `load_data` reads (with targets, text, graphs, biological data)."""
    path = Path(name)
    if name in BUILTIN or name in BIO_BUILTIN or not path.is_file() or is_bio_file(path, types):
        return None
    inputs = unlabelled_inputs(path, types)
    if inputs is None:
        return None
    val, test = _fractions(fractions, (0.15, 0.15))
    count = len(next(iter(inputs.values())))
    parts = partition(count, seed, val, test)
    if any(len(part) == 0 for part in parts):
        raise TrainError(
            f"{path.name}: {count} examples are too few to split into training, validation and test sets",
            "use more examples",
        )
    return {
        split: TensorSplit({k: v[index] for k, v in inputs.items()}, None)
        for split, index in zip(("train", "val", "test"), parts)
    }


def _text(types, seed, val, test, options, corpus, source, vocab_limit, tokenizer) -> Dataset:
    options = resolve(source if source == "text" else "a text file", options, text.TEXT_OPTIONS)
    if len(types) != 1:
        raise TrainError(f"a language model reads one token input; the model has {len(types)}: {', '.join(types)}")
    ((input_name, kind),) = types.items()
    dataset = text.text_dataset(input_name, kind, seed, val, test, options, corpus, source, vocab_limit, tokenizer)
    dataset.options = options
    return dataset


def _fractions(given: tuple, own: tuple) -> tuple[float, float]:
    val = given[0] if given[0] is not None else own[0]
    test = given[1] if given[1] is not None else own[1]
    if val + test >= 0.9:
        raise TrainError(
            f"data.val_fraction + data.test_fraction = {val + test:g} leaves too little to train on",
            "keep them under 0.9 together",
        )
    return val, test


def default_data(inputs: dict[str, TensorType], outputs: dict[str, TensorType]) -> str | None:
    """The built-in data set that fits a model's first input and output, or None."""
    if len(inputs) == 2 and outputs and _digit_pair(inputs, next(iter(outputs.values()))):
        return "digit_pairs"
    bio = default_bio_data(inputs, outputs)
    if bio is not None:
        return bio
    if len(inputs) != 1 or not outputs:
        return None
    (kind,) = inputs.values()
    out = next(iter(outputs.values()))
    dims, out_dims = tuple(kind.dims), tuple(out.dims)
    if kind.kind == "graph":
        if out.kind == "graph":
            return "karate" if dims[-1] == 34 else None
        return "graphs"
    if kind.kind == "tokens":
        return "text" if len(out_dims) == 2 else None
    if dims in ((1, 8, 8), (8, 8), (64,)):
        return "digits" if out_dims in ((10,), dims) else None
    if len(dims) == 3 and dims[0] == 1 and len(out_dims) == 3 and out_dims == (len(shapes.CLASSES), *dims[1:]):
        return "shapes"
    if dims == (30,) and out_dims == (2,):
        return "breast_cancer"
    if dims == (2,) and out_dims == (1,):
        return "kan_toy"
    if len(dims) == 2 and dims[-1] == 2 and out_dims == (1,):
        return "adding"
    return None


def _digit_pair(inputs: dict[str, TensorType], out: TensorType) -> bool:
    """Two digit-shaped float inputs and a [2] output: a same/different classifier (Siamese)."""
    digit = ((1, 8, 8), (8, 8), (64,))
    fits = all(kind.kind == "float" and tuple(kind.dims) in digit for kind in inputs.values())
    return fits and out.kind == "float" and tuple(out.dims) == (2,)
