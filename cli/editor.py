"""`cramnet lsp`: the language server for editors (body in lsp/)."""

from __future__ import annotations

import typer
from rich.text import Text

from .messages import err
from .options import PluginOption


def lsp(plugin: list[str] | None = PluginOption) -> None:
    """Serve the Language Server Protocol on stdin/stdout, for editors (see docs/editors.md)."""
    try:
        from ..lsp import serve
    except ImportError as error:  # pygls is an extra
        err.print(
            Text.assemble(("error:", "red"), f" the language server needs pygls: pip install 'cramnet[lsp]' ({error})")
        )
        raise typer.Exit(2) from None
    serve(plugin or [])
