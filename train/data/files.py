"""User data files. Layouts (one example per row / along the first axis):

- `.npz` and `.safetensors`: one array per model input, named after the input (`x` also names the
  only input), and the targets as `y` (class ids as integers — one per example, `[seq]` per
  position, or an `[H, W]` mask per image for segmentation —, regression values as floats; absent
  for reconstruction). npz files are read with `allow_pickle=False`.
- `.csv`: a header row; the target column is `y` (or `label`, `target`); every other column is one
  feature, in order, reshaped to the only input's declared shape.
- `.txt`: plain text for a language model (byte, character or published tokens, `data.options.tokenizer`).
- graphs (a `graph[nodes, F]` input): `.npz` or `.safetensors` with `x`, `edge_index`, `y` and
  optional arrays, one graph or several, as `graph_file.py` lays out.
"""

from __future__ import annotations

import csv
import math
import zipfile
from array import array
from pathlib import Path

import numpy as np
import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import Dataset, split_tensors
from .graph_file import graph_file_dataset
from .record_ids import is_number

TARGET_COLUMNS = ("y", "label", "target")


def read_arrays(path: Path, targets: bool = True) -> dict[str, np.ndarray]:
    """The named arrays of an `.npz`, `.safetensors` or `.csv` file (a csv's features as `x`). With
    `targets` false (predictions), a csv needs no target column."""
    suffix = path.suffix.lower()
    if path.is_dir():
        raise TrainError(f"data file {path} is a directory", "name a .npz, .safetensors, .csv or .txt file in it")
    if not path.exists():
        raise TrainError(f"data file {path} does not exist")
    if not path.is_file():
        raise TrainError(f"data file {path} is not a regular file (a device or a pipe)")
    if suffix == ".npz":
        with path.open("rb") as handle:
            if handle.read(2) != b"PK":  # not a zip archive; np.load would try it as a pickle
                raise TrainError(
                    f"{path}: not a readable .npz file (not a zip archive)",
                    "write it with numpy.savez or numpy.savez_compressed",
                )
        _check_npz_size(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {k: archive[k] for k in archive.files}
        except ValueError as error:
            if "pickle" in str(error).lower():
                raise TrainError(
                    f"{path}: holds Python objects (pickled arrays), which cramnet never loads",
                    "save plain numeric arrays with numpy.savez",
                ) from None
            raise TrainError(f"{path}: not a readable .npz file ({error})") from None
        except (OSError, zipfile.BadZipFile, EOFError) as error:
            raise TrainError(f"{path}: not a readable .npz file ({error})") from None
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise TrainError(f"{path}: not a readable .safetensors file ({error})") from None
    if suffix == ".csv":
        return _read_csv(path, targets)
    refuse_compressed(path)
    raise TrainError(f"data file {path}: cramnet reads .npz, .safetensors, .csv and .txt files")


COMPRESSED = {".gz": ("gzip", "gunzip -k"), ".bz2": ("bzip2", "bunzip2 -k"), ".xz": ("xz", "unxz -k")}


def refuse_compressed(path: Path) -> None:
    """A compressed data file (enzymes.fasta.gz) is named as such: its format hides under the suffix."""
    if path.suffix.lower() in COMPRESSED:
        kind, command = COMPRESSED[path.suffix.lower()]
        raise TrainError(
            f"{path} is {kind}-compressed; cramnet reads data files uncompressed",
            f"{command} {path}, then give {path.with_suffix('')}",
        )


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_npz_size(path: Path) -> None:
    """Refuse an archive whose arrays would not fit in free memory, from their headers alone: a few
    compressed megabytes can hold gigabytes of zeros."""
    from ...compiler.memory import beyond_free_memory, size_text

    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                with archive.open(name) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = _HEADER_READERS.get(version)
                    if read_header is None:
                        return  # a format version this check does not know: np.load still reads it
                    shape, _, dtype = read_header(member)
                    total += math.prod(shape) * dtype.itemsize
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return  # np.load reports what is wrong with it
    if beyond := beyond_free_memory(total):
        raise TrainError(
            f"{path}: its arrays hold {size_text(total)}, {beyond}", "use a smaller file, or split the data"
        )


def _read_csv(path: Path, targets: bool = True) -> dict[str, np.ndarray]:
    try:  # utf-8-sig: Excel starts its CSV files with a byte-order mark, which is not part of the header
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            target = next((c for c in TARGET_COLUMNS if c in header), None)
            if header and target is None and targets:
                raise TrainError(
                    f"{path}: no target column (named one of {', '.join(TARGET_COLUMNS)})",
                    "add a column `y` with each row's class or value",
                )
            table = _csv_table(path, reader, len(header))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TrainError(f"cannot read {path}: {error}") from None
    if not len(table):
        raise TrainError(f"{path}: needs a header row and at least one example row")
    if target is None:
        return {"x": table}
    column = header.index(target)
    y = table[:, column]
    features = np.delete(table, column, axis=1)
    return {"x": features, "y": y.astype(np.int64) if np.all(y == np.round(y)) else y}


def _csv_table(path: Path, reader, width: int) -> np.ndarray:
    """The rows as one float32 table, each converted as it is read: a file's rows kept as Python
    strings took 24 times the file's size."""
    values = array("f")
    rows = 0
    for row in reader:
        if not row:  # a blank line
            continue
        if len(row) != width:
            raise TrainError(f"{path}, line {reader.line_num}: {len(row)} columns, the header has {width}")
        try:
            values.extend([float(v) for v in row])
        except ValueError:
            bad = next(v for v in row if not is_number(v))
            shown = bad if len(bad) <= 40 else bad[:40] + "…"
            raise TrainError(f"{path}, line {reader.line_num}: {shown!r} is not a number") from None
        rows += 1
    return np.frombuffer(values, dtype=np.float32).reshape(rows, width) if rows else np.zeros((0, width), np.float32)


def check_numbers(path: Path, key: str, array: np.ndarray) -> None:
    """Refuse what training would misread: text, complex numbers (their imaginary part would be
    dropped), dates, and nan or inf (which would surface only as a nan loss)."""
    kind = array.dtype.kind
    if kind in "USOV":
        raise TrainError(
            f"{path}: '{key}' holds text or records (dtype {array.dtype}), not numbers",
            "store numbers: encode categories as integer ids",
        )
    if kind == "c":
        raise TrainError(
            f"{path}: '{key}' holds complex numbers (dtype {array.dtype})",
            "store the real and imaginary parts as two features",
        )
    if kind not in "biuf":
        raise TrainError(f"{path}: '{key}' holds {array.dtype} values, not numbers")
    if kind == "f" and array.size and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array.reshape(len(array), -1) if array.ndim else array.reshape(1)))[0][0]
        raise TrainError(
            f"{path}: '{key}' holds nan or inf (first in example {int(bad)})",
            "remove or impute the missing values before training or predicting",
        )


def input_arrays(path: Path, arrays: dict, types: dict[str, TensorType]) -> dict[str, torch.Tensor]:
    """Each model input's tensor from the file, checked against its declared shape."""
    result = {}
    for name, kind in types.items():
        key = name if name in arrays else "x" if len(types) == 1 and "x" in arrays else None
        if key is None:
            raise TrainError(
                f"{path}: no array named '{name}' for input '{name}'",
                f"the file holds: {', '.join(arrays) or 'nothing'}",
            )
        array = np.asarray(arrays[key])
        check_numbers(path, key, array)
        if kind.kind == "graph":  # every graph of the file at once (x, edge_index, graph or graph_ptr, …)
            if len(types) != 1 or path.suffix.lower() == ".csv":
                raise TrainError(f"{path}: graphs for predictions come as one .npz or .safetensors file per model")
            from .graph_file import graph_batch

            result[name] = graph_batch(path, arrays, kind)
            continue
        dims = [d if isinstance(d, int) else None for d in kind.dims]
        size = int(np.prod([d for d in dims if d is not None])) if dims else 1
        if array.ndim == 2 and len(dims) != 1 and None not in dims and array.shape[1] == size:
            array = array.reshape(len(array), *dims)  # flat rows (a csv) into the declared shape
        shape_ok = array.ndim == len(dims) + 1 and all(d is None or d == s for d, s in zip(dims, array.shape[1:]))
        if not shape_ok:
            raise TrainError(
                f"{path}: '{key}' has examples of shape {list(array.shape[1:])}; input '{name}' is "
                f"declared {list(kind.dims)}"
            )
        if kind.kind == "tokens":
            if not np.issubdtype(array.dtype, np.integer):
                raise TrainError(f"{path}: '{key}' must hold integer token ids for input '{name}'")
            result[name] = torch.from_numpy(array.astype(np.int64))
        else:
            result[name] = torch.from_numpy(array.astype(np.float32))
    return result


def unlabelled_inputs(path: Path, types: dict[str, TensorType]) -> dict[str, torch.Tensor] | None:
    """The model's inputs from a plain data file (.npz, .safetensors, .csv) that holds no targets, or
    None where it holds them or is another kind of file (graphs, text): what needs no labels (a probe)
    reads these rows; what does needs to say why it wants them."""
    if path.suffix.lower() not in (".npz", ".safetensors", ".csv") or any(t.kind == "graph" for t in types.values()):
        return None
    arrays = read_arrays(path, targets=False)
    if "y" in arrays:
        return None
    inputs = input_arrays(path, arrays, types)
    if {len(v) for v in inputs.values()} & {0}:
        raise TrainError(f"{path} holds no examples")
    if len({len(v) for v in inputs.values()}) != 1:
        counts = sorted({len(v) for v in inputs.values()})
        raise TrainError(f"{path}: the inputs disagree on the number of examples ({counts})")
    return inputs


def file_dataset(path: Path, types: dict[str, TensorType], task: str, seed: int, val: float, test: float) -> Dataset:
    arrays = read_arrays(path)
    graphs = [name for name, kind in types.items() if kind.kind == "graph"]
    if graphs:
        if len(types) != 1:
            raise TrainError(
                f"{path}: a graph file feeds one graph input; the model has {len(types)}: {', '.join(types)}"
            )
        if path.suffix.lower() == ".csv":
            raise TrainError(f"{path}: graphs come in .npz or .safetensors files (x, edge_index, y)")
        return graph_file_dataset(path, arrays, graphs[0], types[graphs[0]], seed, val, test)
    inputs = input_arrays(path, arrays, types)
    counts = {len(v) for v in inputs.values()}
    if 0 in counts:
        raise TrainError(f"{path} holds no examples")
    if task == "reconstruction" and "y" not in arrays:
        ((name, x),) = inputs.items()
        return split_tensors(path.name, "reconstruction", inputs, x, seed, val, test, info=str(path))
    if "y" not in arrays:
        raise TrainError(f"{path}: no targets: an array named 'y'", "add y (class ids or values), one per example")
    target = np.asarray(arrays["y"])
    check_numbers(path, "y", target)
    if target.ndim == 0:
        raise TrainError(f"{path}: 'y' is a single number; it needs one target per example")
    y = torch.from_numpy(target.astype(np.float32) if target.dtype.kind == "f" else target.astype(np.int64))
    counts.add(len(y))
    if len(counts) != 1:
        raise TrainError(f"{path}: inputs and 'y' disagree on the number of examples ({sorted(counts)})")
    if y.dtype.is_floating_point:
        return split_tensors(
            path.name, "regression", inputs, y.float().reshape(len(y), -1), seed, val, test, info=str(path)
        )
    y = y.long()
    if y.min() < 0:
        raise TrainError(f"{path}: class ids in 'y' must be 0 or more (found {int(y.min())})")
    per_position = y.dim() >= 2
    task = {1: "classification", 2: "token_classification"}.get(y.dim(), "segmentation")  # (N, H, W): a mask each
    return split_tensors(
        path.name, task, inputs, y, seed, val, test, stratify=not per_position, classes=int(y.max()) + 1, info=str(path)
    )
