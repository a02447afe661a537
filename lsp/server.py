"""The server's wiring: pygls features, each a thin call into the modules beside this one.

Documents are analysed when they open, after each change (changes that queued up behind a
running check are checked once, as the newest) and when saved (a file they use may have changed);
requests use the newest analysis, made on demand if it is stale.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import attrs
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__
from ..blocks.registry import PluginError, load_plugins
from ..compiler.loader import read_source
from ..dsl.errors import SpecErrors
from ..dsl.format import FormatError, format_spec
from .analysis import Analysis, analyze
from .completion import complete
from .diagnostics import diagnostics, internal_error, quick_fixes
from .hover import hover
from .navigation import RenameRefused, definition, document_symbols, prepare_rename, references, rename
from .ranges import cursor, whole_document

log = logging.getLogger(__name__)
PAUSE_S = 0.02  # changes that queued up while a check ran are checked once, as the newest


class CramServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("cramnet", __version__)
        self.analyses: dict[str, Analysis] = {}

    def analysis(self, uri: str, again: bool = False) -> Analysis:
        """The analysis of the document as it is now (`again`: even if its text has not changed)."""
        text = self.workspace.get_text_document(uri).source
        known = self.analyses.get(uri)
        if known is None or known.text != text or again:
            known = self.analyses[uri] = analyze(text, path_of(uri), known)
        return known

    def lines(self, uri: str) -> list[str]:
        """A document's lines: the editor's text when it is open, else the file on disk."""
        if uri in self.workspace.text_documents or not uri.startswith("file:"):
            return self.workspace.get_text_document(uri).lines
        text = read_source(Path(to_fs_path(uri)), [])  # bounded, a regular file, as the checker reads specs
        return text.splitlines(keepends=True) if text is not None else []

    def cursor(self, uri: str, position: types.Position) -> tuple[int, int]:
        """The (line, col) of an editor's position, its column counted in characters as spans are."""
        document = self.workspace.get_text_document(uri)
        return cursor(document.position_codec.position_from_client_units(document.lines, position))

    def to_client(self, uri: str, answer: Answer) -> Answer:
        """`answer` with every range's columns counted in the client's units (UTF-16 by default:
        an emoji is two), each range in the lines of the document it points into."""
        codec = self.workspace.position_codec

        def convert(item, lines: Callable[[], list[str]]):
            if isinstance(item, types.Range):
                return codec.range_to_client_units(lines(), item)
            if isinstance(item, types.Location):
                return types.Location(
                    uri=item.uri, range=convert(item.range, functools.cache(lambda: self.lines(item.uri)))
                )
            if isinstance(item, list):
                return [convert(x, lines) for x in item]
            if isinstance(item, types.WorkspaceEdit) and item.changes:  # edits by document
                changes = {k: convert(v, functools.cache(lambda k=k: self.lines(k))) for k, v in item.changes.items()}
                return attrs.evolve(item, changes=changes)
            if isinstance(item, types.Diagnostic) and isinstance(item.data, dict) and "range" in item.data:
                fix = types.Range(
                    start=types.Position(line=item.data["range"][0], character=item.data["range"][1]),
                    end=types.Position(line=item.data["range"][2], character=item.data["range"][3]),
                )
                fix = convert(fix, lines)
                where = [fix.start.line, fix.start.character, fix.end.line, fix.end.character]
                item = attrs.evolve(item, data={**item.data, "range": where})
            if attrs.has(type(item)):
                return attrs.evolve(
                    item, **{f.alias: convert(getattr(item, f.name), lines) for f in attrs.fields(type(item))}
                )
            return item

        return convert(answer, functools.cache(lambda: self.lines(uri)))

    def publish(self, uri: str, again: bool = False) -> None:
        try:
            found = self.to_client(uri, diagnostics(self.analysis(uri, again), uri))
        except Exception as error:  # a bug here too is one diagnostic, not a traceback in the editor
            log.exception("internal error while publishing diagnostics for %s", uri)
            found = internal_error(f"{type(error).__name__}: {error}")
        version = self.workspace.get_text_document(uri).version  # lets a client drop a late, stale list
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=version)
        )


def path_of(uri: str) -> str:
    """The file a document is (its `use`s resolve from there); an unsaved one is `<untitled:…>`."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return path if path else f"<{uri}>"


server = CramServer()
Answer = TypeVar("Answer")


def answering(empty: Answer) -> Callable[[Callable[..., Answer]], Callable[..., Answer]]:
    """A request handler that logs its own failure and answers `empty`: never a traceback in the editor."""

    def wrap(handler: Callable[..., Answer]) -> Callable[..., Answer]:
        @functools.wraps(handler)
        def guarded(ls: CramServer, params) -> Answer:
            try:
                return handler(ls, params)
            except Exception:
                log.exception("internal error in %s", handler.__name__)
                return empty

        return guarded

    return wrap


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CramServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: CramServer, params: types.DidChangeTextDocumentParams) -> None:
    uri, version = params.text_document.uri, params.text_document.version
    await asyncio.sleep(PAUSE_S)
    if ls.workspace.get_text_document(uri).version == version:  # else a newer change will publish
        ls.publish(uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CramServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.publish(params.text_document.uri, again=True)  # a file it uses may have changed on disk


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CramServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.analyses.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


@server.feature(types.TEXT_DOCUMENT_HOVER)
@answering(None)
def on_hover(ls: CramServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    return ls.to_client(uri, hover(ls.analysis(uri), *ls.cursor(uri, params.position)))


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["(", ",", "=", '"', ":", " "])
)
@answering(types.CompletionList(is_incomplete=False, items=[]))
def on_completion(ls: CramServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    items = complete(ls.analysis(uri), text, *ls.cursor(uri, params.position))
    return ls.to_client(uri, types.CompletionList(is_incomplete=False, items=items))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
@answering(None)
def on_definition(ls: CramServer, params: types.DefinitionParams) -> types.Location | None:
    uri = params.text_document.uri
    return ls.to_client(uri, definition(ls.analysis(uri), uri, *ls.cursor(uri, params.position)))


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
@answering([])
def on_references(ls: CramServer, params: types.ReferenceParams) -> list[types.Location]:
    uri = params.text_document.uri
    found = references(ls.analysis(uri), uri, *ls.cursor(uri, params.position), params.context.include_declaration)
    return ls.to_client(uri, found)


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@answering([])
def on_symbols(ls: CramServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    uri = params.text_document.uri
    return ls.to_client(uri, document_symbols(ls.analysis(uri)))


@server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
@answering(None)
def on_prepare_rename(ls: CramServer, params: types.PrepareRenameParams) -> types.Range | None:
    uri = params.text_document.uri
    return ls.to_client(uri, prepare_rename(ls.analysis(uri), *ls.cursor(uri, params.position)))


@server.feature(types.TEXT_DOCUMENT_RENAME)
@answering(None)
def on_rename(ls: CramServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
    uri = params.text_document.uri
    try:
        return ls.to_client(uri, rename(ls.analysis(uri), uri, *ls.cursor(uri, params.position), params.new_name))
    except RenameRefused as refused:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=str(refused)))
        return None


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
@answering(None)
def on_formatting(ls: CramServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    try:
        formatted = format_spec(text, path_of(uri))
    except SpecErrors:
        return None  # its syntax error is already shown; nothing to lay out
    except FormatError as error:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=str(error)))
        return None
    if formatted == text:
        return []
    return ls.to_client(uri, [types.TextEdit(range=whole_document(text), new_text=formatted)])


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
)
@answering([])
def on_code_action(ls: CramServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    return quick_fixes(params)


def serve(plugins: list[str] = ()) -> None:
    """Answer LSP requests on stdin/stdout until the client says exit; `plugins` are modules of
    blocks to import first (as `--plugin` does for every command)."""
    logging.basicConfig(level=logging.WARNING, format="cramnet lsp: %(levelname)s %(message)s")
    try:
        load_plugins(list(plugins))
    except PluginError as error:  # the specs that use its blocks will say so; the rest still work
        log.error("%s", error)
    # what is loaded now (torch, the compiler, the blocks) lives as long as the server: the garbage
    # collector's full passes, several during a big spec's check, need not walk it every time
    gc.collect()
    gc.freeze()
    server.start_io()
