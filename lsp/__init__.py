"""`cramnet lsp`: a language server for `.cram` specs — diagnostics, hover, completion, navigation,
formatting and rename, over stdio, with the compiler kept warm between edits."""

from .analysis import Analysis, analyze
from .server import serve

__all__ = ["Analysis", "analyze", "serve"]
