"""The `cramnet` command line: typer commands that call the library and print with rich.

One module per group of commands (spec_commands, writing, training, runs, editor); `options.py`
holds the options they share, `messages.py` the consoles and how mistakes are told, `usage.py`
the help and the mistakes made on the command line itself. The commands are registered here, in
the order `cramnet -h` lists them.
"""

from __future__ import annotations

import typer

from .. import __version__
from ..errors import UsageError
from . import editor, runs, spec_commands, training, writing
from .messages import out, print_spec_errors
from .options import parse_sizes
from .usage import Command, Group

UserError = UsageError  # the name this module used before errors.py; kept for code that imports it

app = typer.Typer(
    cls=Group,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    rich_markup_mode=None,
    help="cramnet: write a model as a .cram spec; check, summarise, compile and train it.",
)


def _version(value: bool) -> None:
    if value:
        out.print(f"cramnet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """cramnet: a declarative architecture composer."""


for command, name in (
    (spec_commands.check, None),
    (spec_commands.summary, None),
    (spec_commands.compile_command, "compile"),
    (spec_commands.blocks, None),
    (writing.render, None),
    (writing.export, None),
    (writing.fmt_command, "fmt"),
    (training.train, None),
    (training.sweep, None),
    (runs.evaluate, None),
    (runs.predict, None),
    (runs.generate, None),
    (runs.probe, None),
    (editor.lsp, None),
):
    app.command(name, cls=Command)(command)


def run() -> None:  # pragma: no cover - console entry
    app()


__all__ = ["UserError", "app", "parse_sizes", "print_spec_errors", "run"]
