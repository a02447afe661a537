"""Go to definition, find references, rename, and the outline (document symbols)."""

from __future__ import annotations

import itertools
import keyword
import os
import re
from collections.abc import Iterator
from pathlib import Path

from lsprotocol import types

from ..blocks.registry import lookup
from ..compiler.loader import resolve_use_path
from ..dsl import ast
from ..dsl.errors import Span
from .analysis import Analysis, file_text, parse_file
from .ranges import contains, source_text, span_range
from .symbols import Symbol, index_file

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {"use", "let", "block", "model", "input", "output", "as", "in", "repeat", "residual", "parallel", "moe"}
_RESERVED |= {"true", "false", "tokens", "graph", "shared"}
_SYMBOL_KIND = {
    "model": types.SymbolKind.Class,
    "block": types.SymbolKind.Function,
    "let": types.SymbolKind.Constant,
    "param": types.SymbolKind.TypeParameter,
    "input": types.SymbolKind.Field,
    "bound": types.SymbolKind.Variable,
}


def definition(analysis: Analysis, uri: str, line: int, col: int) -> types.Location | None:
    """A name's definition in this file; a block from a used file; the file a `use` names."""
    for use in analysis.index.uses:
        if contains(use.span, line, col):
            target = resolve_use_path(use.path, analysis.path)
            return _file_start(target) if target is not None and target.is_file() else None
    found = analysis.index.at(line, col)
    if found is not None:
        return types.Location(uri=uri, range=span_range(found[1].span))
    name = analysis.index.unresolved_at(line, col)
    if name is not None:  # a let of a used file
        used = analysis.used_let(source_text(name, analysis.text))
        return types.Location(uri=Path(used[0]).as_uri(), range=span_range(used[1].name_span)) if used else None
    site = analysis.index.call_at(line, col)
    if site is None or lookup(site.call.name) is not None:
        return None
    for path, tree in analysis.used_trees().items():  # a block one of the used files defines
        for decl in tree.declarations:
            if isinstance(decl, ast.BlockDef) and decl.name == site.call.name:
                return types.Location(uri=Path(path).as_uri(), range=span_range(decl.name_span))
    return None


def _file_start(path: Path) -> types.Location:
    start = types.Position(line=0, character=0)
    return types.Location(uri=path.as_uri(), range=types.Range(start=start, end=start))


def references(analysis: Analysis, uri: str, line: int, col: int, include_declaration: bool) -> list[types.Location]:
    found = analysis.index.at(line, col)
    if found is None:
        return []
    symbol = found[1]
    spans = symbol.occurrences if include_declaration else symbol.references
    return [types.Location(uri=uri, range=span_range(span)) for span in spans]


def prepare_rename(analysis: Analysis, line: int, col: int) -> types.Range | None:
    found = analysis.index.at(line, col)
    return span_range(found[0]) if found is not None and analysis.parsed else None


class RenameRefused(ValueError):
    """The new name is not a name, or renaming here would change what the spec means."""


def rename(analysis: Analysis, uri: str, line: int, col: int, new_name: str) -> types.WorkspaceEdit | None:
    """Every occurrence of the symbol under the cursor, in this file, renamed to `new_name`."""
    found = analysis.index.at(line, col)
    if found is None:
        return None
    if not analysis.parsed:
        raise RenameRefused("the spec does not parse; fix its syntax error first")
    symbol = found[1]
    if not _NAME.fullmatch(new_name) or new_name in _RESERVED or keyword.iskeyword(new_name) and new_name != "in":
        raise RenameRefused(f"'{new_name}' is not a name a spec can use")
    if symbol.kind in ("bound", "input") and lookup(new_name) is not None:
        raise RenameRefused(f"'{new_name}' is a block's name; a bound value needs another name")
    if _taken(analysis, symbol, new_name):
        raise RenameRefused(f"'{new_name}' is already defined there")
    changes = {uri: [types.TextEdit(range=span_range(span), new_text=new_name) for span in symbol.occurrences]}
    if symbol.container is None and symbol.kind in ("block", "let"):
        for path, spans in _uses_elsewhere(analysis, symbol).items():
            changes[Path(path).as_uri()] = [types.TextEdit(range=span_range(s), new_text=new_name) for s in spans]
    return types.WorkspaceEdit(changes=changes)


_MOST_FILES = 2000  # beside the renamed file: enough for a project, bounded for a home directory
_MOST_FOLDERS = 1000


def _specs_below(folder: Path) -> Iterator[Path]:
    """The .cram files in `folder` and below, without entering hidden folders (.git, .venv) or
    following links; at most _MOST_FOLDERS folders are walked."""
    for walked, (root, folders, names) in enumerate(os.walk(folder)):
        if walked == _MOST_FOLDERS:
            return
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        yield from (Path(root) / name for name in sorted(names) if name.endswith(".cram"))


def _uses_elsewhere(analysis: Analysis, symbol: Symbol) -> dict[str, list[Span]]:
    """Where the specs in this file's folder (and below) that `use` it name `symbol`, as saved on disk."""
    if analysis.path.startswith("<"):
        return {}
    here = Path(analysis.path).resolve()
    found: dict[str, list[Span]] = {}
    for other in itertools.islice(_specs_below(here.parent), _MOST_FILES):
        if other.resolve() == here:
            continue
        tree = parse_file(str(other))
        if tree is None or not any(
            (target := resolve_use_path(use.path, str(other))) is not None and target.resolve() == here
            for use in tree.declarations
            if isinstance(use, ast.Use)
        ):
            continue
        index, text = index_file(tree), file_text(str(other))
        # a block is called; a let is named as a value, or called as a stage (`let act = choice(relu, gelu)`)
        spans = [c.call.name_span for c in index.calls if c.symbol is None and c.call.name == symbol.name]
        if symbol.kind != "block":
            spans += [s for s in index.unresolved if source_text(s, text) == symbol.name]
        if spans:
            found[str(other)] = spans
    return found


def _taken(analysis: Analysis, symbol: Symbol, name: str) -> bool:
    if symbol.container is None:
        return any(s.name == name and s.kind == symbol.kind for s in analysis.index.symbols)
    return any(s.name == name for s in symbol.container.children)


def document_symbols(analysis: Analysis) -> list[types.DocumentSymbol]:
    return [_outline(symbol) for symbol in analysis.index.symbols]


def _outline(symbol: Symbol) -> types.DocumentSymbol:
    whole = span_range(symbol.whole)
    return types.DocumentSymbol(
        name=symbol.name,
        detail=symbol.kind,
        kind=_SYMBOL_KIND[symbol.kind],
        range=whole,
        selection_range=span_range(symbol.span),
        children=[_outline(child) for child in symbol.children] or None,
    )
