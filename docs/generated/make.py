"""Regenerate the example modules in this folder: `python docs/generated/make.py`."""

from pathlib import Path

from cramnet.compiler import check_spec

HERE = Path(__file__).resolve().parent
EXAMPLES = {"gpt2": "specs/gpt2.cram", "resnet50": "specs/reference/resnet50.cram"}

if __name__ == "__main__":
    for name, spec in EXAMPLES.items():
        (HERE / f"{name}.py").write_text(check_spec(HERE.parent.parent / spec).source(standalone=False))
