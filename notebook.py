"""Notebooks: a `%%cram` cell magic that checks the spec written in the cell and binds its model.

    %load_ext cramnet.notebook

    %%cram net --seed 0
    model net {
        input x: [64]
        x -> dense(32) -> relu -> dense(10) as logits
        output logits
    }

binds `net` to the built `nn.Module` and shows the checked model (its diagram, through the
`_repr_svg_` hook). A wrong spec prints its errors as `cramnet check` does and binds nothing.
`use` paths resolve from the notebook's working directory. IPython is needed only to register the
magic; `run_cell_magic` below does the work and runs without it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from . import render  # noqa: F401 - registers the diagram display of a checked model
from .compiler import CheckedModel, check_spec
from .dsl.errors import SpecErrors

CELL = "<cell>"


class MagicUsageError(ValueError):
    """The magic's own line is wrong (an unknown option, a seed that is not a number)."""


class _Arguments(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit the kernel's process
        raise MagicUsageError(f"%%cram: {message}\n{self.format_usage()}")


def _parser() -> argparse.ArgumentParser:
    parser = _Arguments(prog="%%cram", add_help=False, description="Check a spec cell and bind its model.")
    parser.add_argument("name", nargs="?", help="The variable to bind (default: the model's name).")
    parser.add_argument("--model", help="Which model, when the cell declares several.")
    parser.add_argument("--seed", type=int, help="Fix the initial weights.")
    parser.add_argument("--check", action="store_true", help="Bind the checked model, build no weights.")
    return parser


def run_cell_magic(line: str, cell: str, namespace: dict[str, Any]) -> CheckedModel | None:
    """Check `cell`; bind the built module (or, with --check, the checked model) in `namespace`.

    Returns the checked model, which a notebook shows as its diagram; None after printing errors."""
    try:
        options = _parser().parse_args(shlex.split(line))
    except (MagicUsageError, ValueError) as error:
        print(error, file=sys.stderr)
        return None
    try:
        checked = check_spec(cell, model=options.model, path=CELL)
    except SpecErrors as failure:
        print(failure.render(), file=sys.stderr)
        return None
    name = options.name or checked.name
    if not name.isidentifier():
        print(f"%%cram: '{name}' is not a Python name to bind the model to", file=sys.stderr)
        return None
    namespace[name] = checked if options.check else checked.build(options.seed)
    return checked


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext cramnet.notebook`: register `%%cram` in this IPython (or Jupyter kernel)."""

    def cram(line: str, cell: str) -> CheckedModel | None:
        return run_cell_magic(line, cell, ipython.user_ns)

    ipython.register_magic_function(cram, magic_kind="cell", magic_name="cram")
