"""Reading published weights: a Hugging Face model directory (config.json and model.safetensors,
or shards listed in model.safetensors.index.json, as `save_pretrained` writes them), a single
.safetensors file, or a cramnet run directory. Tensors are read one at a time from the files
(safetensors maps them), so nothing holds the whole checkpoint while it loads."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import TrainError

_PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")  # torch.save's files: never opened
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


class Checkpoint:
    """The tensors of a checkpoint by name, with their shapes, read on demand."""

    def __init__(self, path: Path, files: dict[str, Path], config: dict | None, kind: str, metadata: dict):
        self.path, self.config, self.kind, self.metadata = path, config, kind, metadata
        self.files = files  # tensor name -> the file holding it
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, str] = {}
        self._handles: dict[Path, object] = {}
        for name, file in files.items():
            view = self._handle(file).get_slice(name)
            self.shapes[name] = tuple(view.get_shape())
            self.dtypes[name] = view.get_dtype()

    def _handle(self, file: Path):
        from safetensors import safe_open

        if file not in self._handles:
            self._handles[file] = safe_open(str(file), framework="pt")
        return self._handles[file]

    def release(self, file: Path) -> None:
        """Unmap a file whose tensors are all read: its pages stop counting toward the process's memory."""
        self._handles.pop(file, None)

    def get(self, name: str) -> torch.Tensor:
        return self._handle(self.files[name]).get_tensor(name)

    def meta(self, name: str) -> torch.Tensor:
        """A tensor of the checkpoint's shape and no storage, to check a mapping's shapes."""
        return torch.empty(self.shapes[name], dtype=_DTYPES.get(self.dtypes[name], torch.float32), device="meta")


def open_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at PATH: an HF model directory, a .safetensors file or a cramnet run directory."""
    path = Path(path)
    if not path.exists():
        raise TrainError(
            f"{path}: no such file or directory",
            "give a Hugging Face model directory, a .safetensors file or a run directory",
        )
    if path.is_file() and path.suffix.lower() in _PICKLED:
        raise TrainError(
            f"{path}: a pickled PyTorch file; cramnet never reads pickles (loading one can run any code)",
            "convert it to safetensors where you trust it: model.save_pretrained(DIR) (safetensors by default) "
            "or safetensors.torch.save_file(state_dict, 'model.safetensors')",
        )
    if path.is_file():
        return _from_files(path, [path], None, "file")
    if (path / "run.json").is_file() and (path / "model.safetensors").is_file():
        return _from_files(path, [path / "model.safetensors"], None, "run")
    config = _json_object(path / "config.json", "a model config") if (path / "config.json").is_file() else None
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _json_object(index, "a safetensors index").get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise TrainError(f"{index}: not a safetensors index (its weight_map should map tensors to file names)")
        outside = next(
            (name for name in weight_map.values() if Path(name).name != name or name in ("", ".", "..")), None
        )
        if outside is not None:  # an index lists file names beside it: a path could read any file on disk
            raise TrainError(
                f"{index}: the shard {outside!r} is not a file name in {path}",
                "an index names its shards by file name (model-00001-of-00002.safetensors), in its own directory",
            )
        files = sorted({path / name for name in weight_map.values()})
        return _from_files(path, files, config, "hf")
    single = path / "model.safetensors"
    if single.is_file():
        return _from_files(path, [single], config, "hf")
    found = sorted(path.glob("*.safetensors"))
    hint = "save the model with save_pretrained (safetensors) or convert it; pickled .bin files are never read"
    if found:
        return _from_files(path, found, config, "hf")
    raise TrainError(f"{path}: no model.safetensors (or index of shards) in this directory", hint)


FLAT_LAYOUT = '"cramnet-checkpoint-1"'  # train/checkpoints.py's FLAT_FORMAT, as its metadata writes it
MAX_JSON_BYTES = 64 << 20  # a config or an index of shards is kilobytes; a bound keeps a stray file harmless


def _json_object(path: Path, what: str) -> dict:
    """A JSON object read with a bound, or a TrainError saying the file is not `what`."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
        value = json.loads(data.decode("utf-8")) if len(data) <= MAX_JSON_BYTES else None
    except (OSError, ValueError, RecursionError):  # JSON and UTF-8 errors are ValueErrors
        value = None
    if not isinstance(value, dict):
        raise TrainError(f"{path}: not {what} (a JSON object, as save_pretrained writes it)")
    return value


def _from_files(path: Path, files: list[Path], config: dict | None, kind: str) -> Checkpoint:
    from safetensors import SafetensorError, safe_open

    names: dict[str, Path] = {}
    metadata: dict = {}
    for file in files:
        if not file.is_file():
            raise TrainError(
                f"{file}: a shard the index lists is missing ({len(files)} shards listed)",
                "fetch every shard the index names (an interrupted download leaves some out), or save the model again",
            )
        try:
            with safe_open(str(file), framework="pt") as handle:
                metadata.update(handle.metadata() or {})
                for name in handle.keys():
                    names[name] = file
        except (SafetensorError, OSError) as error:
            raise TrainError(
                f"{file}: not a readable safetensors file ({error})",
                "the file is damaged or was cut short (an interrupted download or save): fetch or save it again",
            ) from None
    if "cramnet" in metadata and kind == "file":
        kind = "run"
    if FLAT_LAYOUT in metadata.get("cramnet", ""):  # names by node identifier: few would match a spec today
        raise TrainError(
            f"{path}: weights saved by cramnet 0.1, named in its flat layout",
            f"resume that run once (cramnet train --resume {path if kind == 'run' else 'RUN'}): its new "
            "checkpoints are named by module path, which loads",
        )
    return Checkpoint(path, names, config, kind, metadata)
