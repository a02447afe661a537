"""The partial models of probing, up to a node and after it: they live in compiler/parts.py (a trained
run's `after` builds one too, and train may not import probe); probing code imports them from here."""

from __future__ import annotations

from ..compiler.parts import after_graph, after_model, partial_graph, partial_model, resolve_node

__all__ = ["after_graph", "after_model", "partial_graph", "partial_model", "resolve_node"]
