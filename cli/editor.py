"""`cramnet lsp`: the language server for editors (body in lsp/)."""

from __future__ import annotations

import typer

from .messages import MISTAKE, print_mistake
from .options import PluginOption


def lsp(plugin: list[str] | None = PluginOption) -> None:
    """Serve the Language Server Protocol on stdin/stdout, for editors (see docs/editors.md)."""
    try:
        from ..lsp import serve
    except ImportError as error:  # pygls is an extra
        print_mistake(f"the language server needs pygls ({error})", "pip install 'cramnet[lsp]'")
        raise typer.Exit(MISTAKE) from None
    serve(plugin or [])
