"""`--format python`: the generated module as one standalone file that imports only torch."""

from __future__ import annotations

from pathlib import Path

from .source import ExportSource

LOADER = '''

def load(weights=None):
    """The trained model: {cls} with the weights saved beside this file (needs `safetensors`)."""
    from pathlib import Path

    from safetensors.torch import load_file

    path = Path(weights) if weights else Path(__file__).with_suffix(".safetensors")
    model = {cls}()
    model.load_state_dict(load_file(str(path)))
    return model.eval()
'''


def export_python(source: ExportSource, output: str | Path) -> Path:
    """Write the same source as `cramnet compile -o`: `Class()` in it builds the spec's model. From
    a trained run, its weights go beside it (`model.safetensors` for `model.py`) and the file gains
    `load()`, which returns the trained model — no cramnet needed to use it."""
    output = Path(output)
    generated = source.checked.generated(standalone=True)
    text = generated.source
    if source.trained:
        from safetensors.torch import save_file

        text += LOADER.format(cls=generated.cls)
        state = {k: v.detach().contiguous().cpu() for k, v in source.module.state_dict().items()}
        save_file(state, str(output.with_suffix(".safetensors")))
    output.write_text(text)
    return output
