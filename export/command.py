"""The body of `cramnet export` (cli/ wires it)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..errors import UsageError
from . import FORMATS, ExportSource, OnnxExportFailed, export_onnx, export_python


def run_export(
    source: ExportSource, fmt: str, output: Path | None, sizes: dict[str, int], batch: int, out: Console
) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    default = {"python": f"{source.name}.py", "onnx": f"{source.name}.onnx", "hf": f"{source.name}-hf"}
    output = output or Path(default[fmt])
    try:
        if fmt == "hf":
            _export_hf(source, output, out)
            return
        if fmt == "python":
            export_python(source, output)
        else:
            export_onnx(source, output, sizes, batch)
    except OnnxExportFailed as error:
        routed = sorted({a.block for a in source.checked.graph.nodes.values() if a.spec and a.spec.bodies})
        hint = f"{', '.join(routed)} routes by data, which torch.onnx cannot trace yet; --format python works"
        raise OnnxExportFailed(str(error), hint if routed else None) from None
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    out.print(f"wrote {output}")
    if fmt == "python" and source.trained:  # the weights went beside the module, and load() reads them
        out.print(f"wrote {output.with_suffix('.safetensors')} (the trained weights)")
        if output.stem.isidentifier():
            how = f"`from {output.stem} import load; model = load()`"
        else:  # `from my-model import load` is not Python
            how = (
                f"{output.name} is not a module name Python can import: load it by path with "
                "importlib.util.spec_from_file_location, or export it as -o NAME.py (letters, digits, _)"
            )
        out.print(f"use it without cramnet: {how} (needs torch and safetensors)")


def _export_hf(source: ExportSource, output: Path, out: Console) -> None:
    from ..train.setup import vocabulary
    from ..weights import export_hf
    from .hf_tokenizer import hf_tokenizer, save_hf_tokenizer

    directory, family, left_out = export_hf(source.built(), source.checked, output)  # a TrainError says why not
    files = "config.json, model.safetensors"
    if getattr(source.tokenizer, "kind", None) == "published":  # fine-tuned from published weights on text
        source.tokenizer.save(directory)
        files += ", tokenizer.json"
    else:
        try:
            own = hf_tokenizer(source.tokenizer, source.alphabet, vocabulary(source.checked))
        except ImportError:
            own, files = None, files + " — not the run's tokenizer: pip install tokenizers to write it too"
        if own is not None:
            save_hf_tokenizer(own, directory)
            files += ", tokenizer.json, tokenizer_config.json"
    out.print(f"wrote {directory} (Hugging Face {family}: {files})")
    if left_out:
        out.print(f"left out (no place in the {family} layout): {', '.join(left_out)}", style="yellow")
