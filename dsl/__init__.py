"""Text to AST: the spec grammar, its parser and the AST it produces. Nothing here knows blocks."""

from . import ast
from .errors import Span, SpecError, SpecErrors
from .parser import parse

__all__ = ["Span", "SpecError", "SpecErrors", "ast", "parse"]
