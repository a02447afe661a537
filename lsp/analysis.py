"""One document's analysis: every error `check` finds, the checked models, and the names in it.

A spec that does not parse keeps the tree and names of its last good parse, so the outline and
navigation still work while the user is in the middle of typing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from ..compiler import CheckedModel, check_spec
from ..compiler.loader import read_source, resolve_use_path
from ..compiler.space_reader import first_point
from ..dsl import ast, parse
from ..dsl.errors import Span, SpecError, SpecErrors
from ..dsl.parser import MAX_SPEC_BYTES
from .graph_view import NodeView, node_views
from .symbols import SymbolIndex, index_file

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    path: str
    text: str
    tree: ast.SpecFile | None  # the last good parse; from an older text when `parsed` is False
    parsed: bool
    errors: list[SpecError]
    checked: list[CheckedModel] = field(default_factory=list)
    index: SymbolIndex = field(default_factory=SymbolIndex)
    internal: str | None = None  # set when the checker itself failed (a bug), shown as one diagnostic
    _views: dict[int, dict[str, NodeView]] = field(default_factory=dict, repr=False)

    def views(self, checked: CheckedModel) -> dict[str, NodeView]:
        """The nodes of one of this analysis's checked models, read once (hover asks often)."""
        if id(checked) not in self._views:
            self._views[id(checked)] = node_views(checked)
        return self._views[id(checked)]

    def used_let(self, name: str) -> tuple[str, ast.Let] | None:
        """The `let` named `name` in a file this one uses, with that file's path."""
        for path, tree in self.used_trees().items():
            for decl in tree.declarations:
                if isinstance(decl, ast.Let) and decl.name == name:
                    return path, decl
        return None

    def used_trees(self) -> dict[str, ast.SpecFile]:
        """The files this one `use`s (resolved path -> tree); unreadable ones are left out."""
        trees = {}
        for use in self.index.uses:
            target = resolve_use_path(use.path, self.path)
            if target is not None and target.is_file():
                tree = parse_file(str(target))
                if tree is not None:
                    trees[str(target)] = tree
        return trees


def analyze(text: str, path: str, previous: Analysis | None = None) -> Analysis:
    """Parse and check `text` (the buffer of `path`); never raises."""
    try:
        return _analyze(text, path, previous)
    except Exception as error:  # a bug in the checker must not take the editor's server down
        log.exception("internal error while checking %s", path)
        keep = previous.tree if previous is not None else None
        index = previous.index if previous is not None else SymbolIndex()
        return Analysis(path, text, keep, False, [], index=index, internal=f"{type(error).__name__}: {error}")


def _analyze(text: str, path: str, previous: Analysis | None) -> Analysis:
    if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        # as `cramnet check` refuses the file: a 10 MB buffer of small models took minutes per change
        too_large = SpecError(
            code="E200",
            message=f"{path} is larger than {MAX_SPEC_BYTES >> 20} MiB: too large for a spec",
            span=Span(file=path, line=1, col=1, end_line=1, end_col=1),
            hint="repeat layers with `* N` or `repeat N { … }` instead of writing each one out",
        )
        if previous is None:
            return Analysis(path, text, None, False, [too_large])
        return Analysis(path, text, previous.tree, False, [too_large], previous.checked, previous.index)
    try:
        tree = parse(text, path)
    except SpecErrors as failure:
        if previous is None:
            return Analysis(path, text, None, False, failure.errors)
        return Analysis(path, text, previous.tree, False, failure.errors, previous.checked, previous.index)
    models = [d.name for d in tree.declarations if isinstance(d, ast.ModelDef)]
    errors: list[SpecError] = []
    checked: list[CheckedModel] = []
    try:  # a search space (`let act = choice(relu, gelu)`) is checked at its first point
        point = first_point(text, path)
    except SpecErrors as failure:
        return Analysis(path, text, tree, True, failure.errors, [], index_file(tree))
    for model in models or [None]:
        try:
            checked.append(check_spec(text, model=model, path=path, choices=point))
        except SpecErrors as failure:
            # a file of blocks only, meant to be `use`d, is not missing a model
            errors += [e for e in failure.errors if models or e.code != "E208"]
    unique = list(dict.fromkeys(errors))  # a mistake in a block two models use is reported once
    return Analysis(path, text, tree, True, unique, checked, index_file(tree))


_read: dict[str, tuple[float, str | None, ast.SpecFile | None]] = {}


def parse_file(path: str) -> ast.SpecFile | None:
    """A spec file's tree, re-read only when the file changes; None for one that is not a readable spec."""
    return _read_file(path)[1]


def file_text(path: str) -> str:
    """A spec file's text as parse_file read it (bounded, a byte-order mark skipped); "" if unreadable."""
    return _read_file(path)[0] or ""


def _read_file(path: str) -> tuple[str | None, ast.SpecFile | None]:
    try:
        status = Path(path).stat()
    except OSError:
        return None, None
    if not S_ISREG(status.st_mode):  # reading a named pipe would block the server for good
        return None, None
    cached = _read.get(path)
    if cached is not None and cached[0] == status.st_mtime:
        return cached[1:]
    text = read_source(Path(path), []) if path.endswith(".cram") else None  # bounded, as the checker reads it
    try:
        tree = parse(text, path) if text is not None else None
    except SpecErrors:
        tree = None
    _read[path] = (status.st_mtime, text, tree)
    return text, tree
