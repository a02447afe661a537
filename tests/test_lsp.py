"""`cramnet lsp` driven by pygls's language client over stdio, as an editor drives it.

One server serves the module (it takes a couple of seconds to import torch); each test opens its
own document, so the tests do not depend on one another's order.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

SPEC = """\
use "std:ffn"

let d = 32

block enc(c, k = 3) {
    h = in -> dense(c) -> relu
    h -> dense(c)
}

model m {
    input x: [16]
    x -> dense(d) -> relu as h
    h -> enc(d) -> ffn(d) -> convd2d(10) as logits
    output logits
}
"""
LOGITS_LINE = 12  # 0-based line of `h -> enc(d) -> …`


class Session:
    """A client talking to a server process, with the diagnostics the server has published."""

    def __init__(self, tmp: Path):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("cramnet-tests", "1")
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.tmp = tmp
        self.versions: dict[str, int] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            if params.version == self.versions.get(params.uri):  # a late list for an older text is stale
                self.diagnostics[params.uri] = params.diagnostics

    def run(self, coroutine):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, 60))

    def start(self) -> None:
        async def begin():
            await self.client.start_io(sys.executable, "-m", "cramnet.cli", "lsp")
            await self.client.initialize_async(
                types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=self.tmp.as_uri())
            )
            self.client.initialized(types.InitializedParams())

        self.run(begin())

    def stop(self) -> None:
        async def end():
            await self.client.shutdown_async(None)
            self.client.exit(None)
            await self.client.stop()

        self.run(end())
        self.loop.close()

    def open(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        uri = path.as_uri()
        self.versions[uri] = 1
        self.diagnostics.pop(uri, None)
        item = types.TextDocumentItem(uri=uri, language_id="cram", version=1, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        return uri

    def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.diagnostics.pop(uri, None)
        document = types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri])
        change = types.TextDocumentContentChangeWholeDocument(text=text)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(text_document=document, content_changes=[change])
        )

    def published(self, uri: str, until: Callable[[list[types.Diagnostic]], bool] = lambda d: True):
        async def wait():
            while uri not in self.diagnostics or not until(self.diagnostics[uri]):
                await asyncio.sleep(0.02)
            return self.diagnostics[uri]

        return self.run(wait())


@pytest.fixture(scope="module")
def lsp(tmp_path_factory) -> Iterator[Session]:
    session = Session(tmp_path_factory.mktemp("lsp"))
    session.start()
    yield session
    session.stop()


def at(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def test_unknown_block_is_reported_on_its_line_with_a_quick_fix_and_cleared_when_fixed(lsp):
    uri = lsp.open("unknown.cram", SPEC)
    (diagnostic,) = lsp.published(uri)
    assert diagnostic.code == "E204"
    assert diagnostic.range.start == at(LOGITS_LINE, SPEC.split("\n")[LOGITS_LINE].index("convd2d"))
    assert "unknown block 'convd2d'" in diagnostic.message and "did you mean" in diagnostic.message

    context = types.CodeActionContext(diagnostics=[diagnostic])
    params = types.CodeActionParams(text_document=doc(uri), range=diagnostic.range, context=context)
    (action,) = lsp.run(lsp.client.text_document_code_action_async(params))
    (edit,) = action.edit.changes[uri]
    assert edit.new_text == "conv2d"

    lsp.change(uri, SPEC.replace("convd2d(10)", "dense(10)"))
    assert not lsp.published(uri)


def test_syntax_error_keeps_the_outline_of_the_last_good_parse(lsp):
    uri = lsp.open("syntax.cram", SPEC.replace("convd2d", "dense"))
    assert not lsp.published(uri)
    lsp.change(uri, SPEC.replace("convd2d", "dense").replace("model m {", "model m {{"))
    (diagnostic,) = lsp.published(uri)
    assert diagnostic.range.start.line == 9
    symbols = lsp.run(
        lsp.client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc(uri)))
    )
    assert [s.name for s in symbols] == ["d", "enc", "m"]
    assert [c.name for c in symbols[2].children] == ["x", "h", "logits"]
    assert [c.name for c in symbols[1].children] == ["c", "k", "h"]


def test_hover_on_a_stage_shows_its_shape_and_parameters(lsp):
    uri = lsp.open("hover.cram", SPEC.replace("convd2d", "dense"))
    lsp.published(uri)
    line = SPEC.split("\n")[LOGITS_LINE]

    def hover(character: int) -> str:
        params = types.HoverParams(text_document=doc(uri), position=at(LOGITS_LINE, character))
        return lsp.run(lsp.client.text_document_hover_async(params)).contents.value

    last = hover(line.index("convd2d") + 1)
    assert "**output** `[10]`" in last and "**parameters** 330" in last  # 32 * 10 + 10
    assert "dense(out" in last  # the block's signature
    user = hover(line.index("enc") + 1)
    assert "block enc(c, k = 3)" in user and "**parameters** 2,112" in user  # 2 * (32 * 32 + 32)
    bound = hover(line.index("h"))
    assert "bound on line 12" in bound and "`[32]`" in bound


def test_completion_of_a_half_typed_block_and_of_arguments(lsp):
    text = "model m {\n    input x: [3, 8, 8]\n    x -> con\n}\n"
    uri = lsp.open("complete.cram", text)
    lsp.published(uri)

    def labels(line: int, character: int) -> list[str]:
        params = types.CompletionParams(text_document=doc(uri), position=at(line, character))
        return [item.label for item in lsp.run(lsp.client.text_document_completion_async(params)).items]

    assert {"conv2d", "conv1d", "concat"} <= set(labels(2, 12))
    lsp.change(uri, text.replace("x -> con", "x -> conv2d(4, 3, pad = "))
    assert labels(2, 28) == ["same"]
    lsp.change(uri, text.replace("x -> con", "x -> conv2d(4, "))
    assert {"stride =", "pad =", "groups ="} <= set(labels(2, 19))
    lsp.change(uri, text.replace("x -> con", "x -> dense(4) as h\n    h -> relu"))
    lsp.published(uri)
    lsp.change(uri, text.replace("x -> con", "x -> dense(4) as h\n    "))  # does not parse: names from the last parse
    assert {"x", "h", "input", "add"} <= set(labels(3, 4)) and "dense" not in labels(3, 4)
    lsp.change(uri, text.replace("x -> con", "x -> dense(4) as h\n    h -> "))
    assert {"dense", "residual"} <= set(labels(3, 9)) and not {"x", "h"} & set(labels(3, 9))  # E216 if it flowed
    lsp.change(uri, 'use "std:\n' + text)
    assert "std:ffn" in labels(0, 9)


def test_format_goes_through_fmt(lsp):
    uri = lsp.open("format.cram", "model m {\n  input x: [4]\n  x->dense(2)  as y\n  output y\n}\n")
    lsp.published(uri)
    options = types.FormattingOptions(tab_size=4, insert_spaces=True)
    params = types.DocumentFormattingParams(text_document=doc(uri), options=options)
    (edit,) = lsp.run(lsp.client.text_document_formatting_async(params))
    assert edit.new_text == "model m {\n    input x: [4]\n    x -> dense(2) as y\n    output y\n}\n"
    crlf = lsp.open("format_crlf.cram", "model m {\r\n  input x: [4]\r\n  x->dense(2)  as y\r\n  output y\r\n}\r\n")
    lsp.published(crlf)
    params = types.DocumentFormattingParams(text_document=doc(crlf), options=options)
    (edit,) = lsp.run(lsp.client.text_document_formatting_async(params))
    assert edit.new_text == "model m {\r\n    input x: [4]\r\n    x -> dense(2) as y\r\n    output y\r\n}\r\n"
    assert edit.range.end == at(5, 0)


def test_rename_a_bound_name_and_a_user_block(lsp):
    text = SPEC.replace("convd2d", "dense")
    uri = lsp.open("rename.cram", text)
    lsp.published(uri)
    line = text.split("\n")[LOGITS_LINE]

    def rename(line_number: int, character: int, new_name: str) -> list[types.TextEdit]:
        params = types.RenameParams(text_document=doc(uri), position=at(line_number, character), new_name=new_name)
        return lsp.run(lsp.client.text_document_rename_async(params)).changes[uri]

    edits = rename(LOGITS_LINE, line.index("h"), "hidden")
    assert sorted((e.range.start.line, e.range.start.character) for e in edits) == [(11, 29), (12, 4)]
    edits = rename(LOGITS_LINE, line.index("enc") + 1, "encoder")
    assert sorted(e.range.start.line for e in edits) == [4, 12]  # the definition and the call


def test_definition_and_references(lsp):
    text = SPEC.replace("convd2d", "dense")
    uri = lsp.open("navigate.cram", text)
    lsp.published(uri)
    line = text.split("\n")[LOGITS_LINE]
    position = at(LOGITS_LINE, line.index("enc") + 1)
    found = lsp.run(
        lsp.client.text_document_definition_async(types.DefinitionParams(text_document=doc(uri), position=position))
    )
    assert found.uri == uri and found.range.start == at(4, 6)
    position = at(LOGITS_LINE, line.index("ffn") + 1)
    found = lsp.run(
        lsp.client.text_document_definition_async(types.DefinitionParams(text_document=doc(uri), position=position))
    )
    assert found.uri.endswith("std/ffn.cram")
    context = types.ReferenceContext(include_declaration=True)
    params = types.ReferenceParams(text_document=doc(uri), position=at(11, 29), context=context)
    assert [r.range.start.line for r in lsp.run(lsp.client.text_document_references_async(params))] == [11, 12]


def test_a_block_library_without_a_model_is_not_an_error(lsp):
    uri = lsp.open("library.cram", "block twice(d) {\n    dense(d) -> dense(d)\n}\n")
    assert not lsp.published(uri)


def test_saving_checks_again_the_files_a_spec_uses(lsp):
    parts = lsp.tmp / "parts.cram"
    parts.write_text("block twice(d) {\n    dense(d) -> dense(d)\n}\n")
    uri = lsp.open(
        "uses.cram", 'use "parts.cram"\nmodel m {\n    input x: [4]\n    x -> twice(4) as y\n    output y\n}\n'
    )
    assert not lsp.published(uri)
    parts.write_text("block twice(d) {\n    dense(d) -> rleu -> dense(d)\n}\n")
    lsp.diagnostics.pop(uri)
    lsp.client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=doc(uri)))
    (diagnostic,) = lsp.published(uri)
    assert diagnostic.code == "E204" and diagnostic.range.start.line == 0  # on the `use` line


# -- the analysis behind the server, called directly (no process) ---------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_every_request_at_every_name_of_every_shipped_spec_answers():
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.completion import complete
    from cramnet.lsp.hover import hover
    from cramnet.lsp.navigation import definition, document_symbols, prepare_rename, references

    specs = sorted((ROOT / "specs").rglob("*.cram"))
    assert len(specs) > 20
    shown = 0
    for path in specs:
        text = path.read_text()
        analysis = analyze(text, str(path))
        assert analysis.errors == [] and analysis.checked, path
        assert document_symbols(analysis)
        for number, line in enumerate(text.split("\n"), start=1):
            for word in re.finditer(r"[A-Za-z_]\w*", line):
                col = word.start() + 1
                answer = hover(analysis, number, col)
                shown += answer is not None and "**output**" in answer.contents.value
                definition(analysis, path.as_uri(), number, col)
                references(analysis, path.as_uri(), number, col, True)
                prepare_rename(analysis, number, col)
            complete(analysis, text, number, len(line) + 1)
    assert shown > 250  # shapes on hover, not just signatures (296 of 318 calls when written)


def test_a_checker_failure_is_one_diagnostic_not_a_crash(monkeypatch):
    from cramnet.lsp import analysis as module
    from cramnet.lsp.diagnostics import diagnostics

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "check_spec", broken)
    found = module.analyze(SPEC, "/tmp/internal.cram")
    (diagnostic,) = diagnostics(found, "file:///tmp/internal.cram")
    assert diagnostic.code == "internal" and "RuntimeError: boom" in diagnostic.message


def test_a_mistake_in_a_used_file_is_shown_on_its_use(tmp_path):
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.diagnostics import diagnostics

    (tmp_path / "parts.cram").write_text("block twice(d) {\n    dense(d) -> rleu -> dense(d)\n}\n")
    text = 'let d = 4\nuse "parts.cram"\nmodel m {\n    input x: [4]\n    x -> twice(d) as y\n    output y\n}\n'
    main = tmp_path / "main.cram"
    (diagnostic,) = diagnostics(analyze(text, str(main)), main.as_uri())
    assert diagnostic.range.start.line == 1 and "parts.cram:2:17" in diagnostic.message


def test_a_misspelt_argument_name_gets_a_fix_of_the_name_alone():
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.diagnostics import diagnostics, quick_fixes

    text = "model m {\n    input x: [3, 8, 8]\n    x -> conv2d(4, 3, strid = 2) -> flatten as y\n    output y\n}\n"
    (diagnostic,) = diagnostics(analyze(text, "/tmp/args.cram"), "file:///tmp/args.cram")
    context = types.CodeActionContext(diagnostics=[diagnostic])
    params = types.CodeActionParams(text_document=doc("file:///tmp/args.cram"), range=diagnostic.range, context=context)
    (action,) = quick_fixes(params)
    (edit,) = action.edit.changes["file:///tmp/args.cram"]
    assert edit.new_text == "stride" and (edit.range.start.character, edit.range.end.character) == (22, 27)


def _complete_after(text: str, marker: str, path: str = "/tmp/complete_after.cram") -> list[str]:
    """The labels offered with the cursor just after the first `marker` in `text`."""
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.completion import complete

    before = text[: text.index(marker) + len(marker)]
    line, col = before.count("\n") + 1, len(before.split("\n")[-1]) + 1
    return [item.label for item in complete(analyze(text, path), text, line, col)]


def test_no_block_names_where_a_new_name_is_written():
    # `as `, `model `, `block `, `let ` and `input ` name something new: blocks there were noise,
    # and a block's name picked there is an error; a block header's `(` declares parameters
    text = SPEC.replace("convd2d", "dense")
    assert _complete_after(text, "as ") == []
    assert _complete_after(text, "model ") == []
    assert _complete_after(text, "block ") == []
    assert _complete_after(text, "let ") == []
    assert _complete_after(text, "input ") == []
    assert _complete_after(text, "block enc(") == []
    assert _complete_after(text, "block enc(c, ") == []


def test_output_offers_the_bound_values_only():
    labels = _complete_after(SPEC.replace("convd2d", "dense"), "output ")
    assert {"x", "h", "logits"} <= set(labels) and "dense" not in labels and "residual" not in labels


def test_arguments_already_given_are_not_offered_again():
    text = "model m {\n    input x: [3, 8, 8]\n    x -> conv2d(4, 3, stride = 2, ) as y\n    output y\n}\n"
    labels = _complete_after(text, "stride = 2, ")
    assert "pad =" in labels
    assert not {"out =", "kernel =", "stride ="} & set(labels)
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.completion import complete

    items = complete(analyze(text, "/tmp/given.cram"), text, 3, text.split("\n")[2].index("stride = 2, ") + 13)
    (bias,) = [item for item in items if item.label == "bias ="]
    assert bias.detail.startswith("bool, default true")  # as a spec writes it, not Python's True


def test_combinator_arguments_complete_their_choices():
    text = "model m {\n    input x: [8]\n    x -> parallel(merge = ) { relu | tanh } as y\n    output y\n}\n"
    from cramnet.blocks.merges import MERGE_MODES

    assert set(_complete_after(text, "merge = ")) == set(MERGE_MODES)
    assert {"merge ="} <= set(_complete_after(text, "parallel("))


def test_hover_adds_up_flops_that_depend_on_a_run_time_size():
    # a user block over [seq, 16] read '544*seq + 0 + 544*seq per example', one term per node
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.hover import hover

    text = (
        "block two(d) {\n    dense(d) -> relu -> dense(d)\n}\n"
        "model m {\n    input x: [seq, 16]\n    x -> two(32) as y\n    output y\n}\n"
    )
    answer = hover(analyze(text, "/tmp/flops.cram"), 6, 11).contents.value
    (flops,) = [line for line in answer.split("\n") if line.startswith("**FLOPs**")]
    assert flops.startswith("**FLOPs** ") and flops.count("seq") == 1, flops


def test_columns_past_an_emoji_are_counted_in_utf16_code_units(lsp):
    # LSP columns count UTF-16 units: an emoji is two, and ranges after one were one short
    line = '    x -> dense(4, tie = "😀") -> rleu as y'
    text = f"model m {{\n    input x: [4]\n{line}\n    output y\n}}\n"
    uri = lsp.open("emoji.cram", text)
    found = lsp.published(uri, lambda d: any(x.code == "E204" for x in d))
    (unknown,) = [d for d in found if d.code == "E204"]
    start = len(line[: line.index("rleu")].encode("utf-16-le")) // 2
    assert (unknown.range.start.character, unknown.range.end.character) == (start, start + 4)
    context = types.CodeActionContext(diagnostics=[unknown])
    params = types.CodeActionParams(text_document=doc(uri), range=unknown.range, context=context)
    (action,) = lsp.run(lsp.client.text_document_code_action_async(params))
    assert action.edit.changes[uri][0].range == unknown.range
    params = types.HoverParams(text_document=doc(uri), position=at(2, start + len("rleu as ")))
    answer = lsp.run(lsp.client.text_document_hover_async(params))
    assert answer is not None and "`y`" in answer.contents.value
    assert (answer.range.start.character, answer.range.end.character) == (start + 8, start + 9)


def test_hover_on_an_argument_name_shows_that_argument():
    # hovering `stride` in `conv2d(…, stride = 2)` or `k` in `enc(d, k = 5)` showed nothing
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.hover import hover

    text = SPEC.replace("convd2d(10)", "dense(10, bias = false)").replace("enc(d)", "enc(d, k = 5)")
    analysis = analyze(text, "/tmp/argument_hover.cram")
    line = text.split("\n")[LOGITS_LINE]
    bias = hover(analysis, LOGITS_LINE + 1, line.index("bias") + 2)
    assert bias is not None and "bias" in bias.contents.value and "default true" in bias.contents.value
    assert bias.range.start.character == line.index("bias") and bias.range.end.character == line.index("bias") + 4
    k = hover(analysis, LOGITS_LINE + 1, line.index("k = 5") + 1)
    assert k is not None and "k = 3" in k.contents.value and "`enc`" in k.contents.value


def _two_files(tmp_path: Path) -> tuple[Path, Path]:
    parts = tmp_path / "parts.cram"
    parts.write_text("let width = 32\n\n# two dense layers\nblock twice(d) {\n    dense(d) -> relu -> dense(d)\n}\n")
    main = tmp_path / "main.cram"
    main.write_text('use "parts.cram"\nmodel m {\n    input x: [4]\n    x -> twice(width) as y\n    output y\n}\n')
    return parts, main


def test_a_let_of_a_used_file_has_a_definition_and_a_hover(tmp_path):
    # `width` defined in parts.cram and used in main.cram: definition and hover answered nothing
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.hover import hover
    from cramnet.lsp.navigation import definition

    parts, main = _two_files(tmp_path)
    analysis = analyze(main.read_text(), str(main))
    found = definition(analysis, main.as_uri(), 4, 17)
    assert found is not None and found.uri == parts.as_uri() and found.range.start == at(0, 4)
    shown = hover(analysis, 4, 17)
    assert shown is not None and "let width = 32" in shown.contents.value and "parts.cram" in shown.contents.value


def test_a_used_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    # the compiler read it (utf-8-sig) but the server's own reads did not: no hover on its let
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.hover import hover

    parts, main = _two_files(tmp_path)
    parts.write_bytes(b"\xef\xbb\xbf" + parts.read_bytes())
    analysis = analyze(main.read_text(), str(main))
    assert not analysis.errors
    shown = hover(analysis, 4, 17)
    assert shown is not None and "let width = 32" in shown.contents.value


def test_renaming_a_block_or_let_renames_its_uses_in_the_files_that_use_it(tmp_path):
    # renaming `twice` in parts.cram left main.cram calling a block that no longer existed
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.navigation import rename

    parts, main = _two_files(tmp_path)
    analysis = analyze(parts.read_text(), str(parts))
    changes = rename(analysis, parts.as_uri(), 4, 8, "double").changes
    assert [e.range.start for e in changes[parts.as_uri()]] == [at(3, 6)]
    assert [(e.range.start, e.new_text) for e in changes[main.as_uri()]] == [(at(3, 9), "double")]
    changes = rename(analysis, parts.as_uri(), 1, 6, "size").changes
    assert [e.range.start for e in changes[main.as_uri()]] == [at(3, 15)]


def test_renaming_a_let_used_as_a_stage_in_another_file_renames_that_stage(tmp_path):
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.navigation import rename

    parts = tmp_path / "parts.cram"
    parts.write_text("let act = choice(relu, gelu)\n")
    main = tmp_path / "main.cram"
    main.write_text('use "parts.cram"\nmodel m {\n    input x: [4]\n    x -> act as y\n    output y\n}\n')
    changes = rename(analyze(parts.read_text(), str(parts)), parts.as_uri(), 1, 6, "activation").changes
    assert [(e.range.start, e.new_text) for e in changes[main.as_uri()]] == [(at(3, 9), "activation")]


def test_renaming_in_a_project_inside_a_hidden_folder_finds_its_uses_but_skips_hidden_folders_below(tmp_path):
    # every path with a part starting with '.' was skipped, the project's own folder's included
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.navigation import rename

    project = tmp_path / ".config" / "specs"
    project.mkdir(parents=True)
    parts, main = _two_files(project)
    hidden = project / ".venv" / "copy.cram"
    hidden.parent.mkdir()
    hidden.write_text(main.read_text().replace('"parts.cram"', '"../parts.cram"'))
    changes = rename(analyze(parts.read_text(), str(parts)), parts.as_uri(), 4, 8, "double").changes
    assert main.as_uri() in changes and hidden.as_uri() not in changes


def _offered(marked: str, typed_into: str | None = None, path: str = "/tmp/offered.cram") -> list[str]:
    """The labels offered with the cursor at the `‸` of `marked`, typed into the text `typed_into`
    (whose parse the server keeps while the half-typed text does not parse)."""
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.completion import complete

    where = marked.index("‸")
    text = marked[:where] + marked[where + 1 :]
    line, col = text[:where].count("\n") + 1, len(text[:where].split("\n")[-1]) + 1
    previous = analyze(typed_into, path) if typed_into is not None else None
    return [item.label for item in complete(analyze(text, path, previous), text, line, col)]


LINES = """\
let d = 8

block enc(c, flag = false) {
    h = in -> dense(c)
    <B>
}

model m {
    input x: [seq, 16]
    x -> dense(d) as h
    <M>
    output h
}
"""


def _lines(block: str = "", model: str = "") -> str:
    """LINES with a line written at the end of the block's body and of the model's; `‸` in one marks the cursor."""
    return LINES.replace("<B>", block).replace("<M>", model)


def _typed(block: str = "", model: str = "") -> list[str]:
    """What is offered at the `‸` of a line being typed into LINES."""
    return _offered(_lines(block, model), _lines())


def test_a_new_model_line_offers_what_can_start_one():
    # it offered every block (an E211 error at the start of a model line) and `use`, `block`, `moe`…
    labels = set(_typed(model="‸"))
    assert {"input", "output", "x", "h", "add", "concat", "param"} <= labels
    assert not {"dense", "enc", "d", "repeat", "use", "model"} & labels
    assert {"x", "h", "mul"} <= set(_typed(model="y = ‸"))


def test_a_block_line_and_a_stage_offer_blocks_lets_and_combinators():
    block_line = set(_typed(block="‸"))
    assert {"dense", "enc", "d", "residual", "repeat", "in", "h", "c"} <= block_line
    assert not {"model", "use", "input", "output"} & block_line
    stage = set(_typed(model="h -> ‸"))
    assert {"dense", "enc", "d", "residual"} <= stage and not {"x", "h", "in", "input"} & stage
    assert {"dense", "enc"} <= set(_typed(model="h\n      -> re‸"))  # a pipeline carried over a line


def test_top_level_offers_the_declarations():
    assert _offered("let d = 8\n‸\n") == ["use", "let", "block", "model"]
    assert _offered("‸") == ["use", "let", "block", "model"]


def test_an_input_type_offers_the_three_forms_and_its_dimensions_the_sizes():
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.completion import complete

    assert _typed(model="input y: ‸") == ["[d1, d2, …]", "tokens[seq]", "graph[nodes, F]"]
    text = _lines(model="input y: ")
    line = text.split("\n").index("    input y: ")
    items = complete(analyze(text, "/tmp/types.cram"), text, line + 1, len("    input y: ") + 1)
    assert [item.insert_text for item in items] == ["[", "tokens[", "graph["]
    assert set(_typed(model="input y: [‸]")) == {"d", "seq"}


def test_nothing_is_offered_in_a_comment_or_a_string():
    assert _typed(model="# a note ‸") == []
    assert _typed(model='h -> dense(4, tie = "a‸") as y') == []


def test_argument_values_offer_choices_and_booleans_and_bound_names():
    def at(stage: str) -> list[str]:
        return _typed(model=f"h -> {stage}‸) as y")

    assert at("pool(")[:5] == ["cls", "mean", "max", "last", "sum"]  # positional: `pool(mean)`
    assert at("reduce(")[:4] == ["sum", "mean", "max", "min"]
    assert at("gat(8, 2, ")[:2] == ["true", "false"]  # the third argument, `concat`
    assert at("dense(4, bias = ") == ["true", "false"]
    assert at("enc(4, flag = ") == ["true", "false"]  # a user block's parameter with a boolean default
    assert {"x", "h"} <= set(at("dense(4, tie = "))  # bound names, not only lets
    assert "cls" not in at("dense(")


def test_a_count_offers_lets_and_after_it_as_and_shared():
    assert _typed(model="h -> relu * ‸") == ["d"]
    assert _typed(model="h -> relu * 3 ‸") == ["as", "shared"]
    assert _typed(model="h -> relu ‸") == ["as"]


def test_groups_arithmetic_and_a_use_without_its_quote():
    # `(` at a line's start was read as a call of the word ending the line before; `x -> (` offered
    # `input`; `* (d + ` and `use ` offered every block
    assert {"x", "h", "add"} <= set(_typed(model="(‸")) and "dense" not in _typed(model="(‸")
    assert {"dense", "residual"} <= set(_typed(model="x -> (‸")) and "input" not in _typed(model="x -> (‸")
    assert _typed(model="x -> relu * (d + ‸") == ["d"]
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.completion import complete

    items = complete(analyze("use \n", "/tmp/quote.cram"), "use \n", 1, 5)
    (ffn,) = [item for item in items if item.label == "std:ffn"]
    assert ffn.text_edit.new_text == '"std:ffn"' and ffn.text_edit.range.start == at(0, 4)


def test_a_let_used_as_a_stage_is_that_let(tmp_path):
    # `let act = choice(relu, gelu)` then `-> act`: no definition, and renaming the let left `act` behind
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.hover import hover
    from cramnet.lsp.navigation import definition, rename

    text = "let act = choice(relu, gelu)\nmodel m {\n    input x: [4]\n    x -> dense(4) -> act as y\n    output y\n}\n"
    path = tmp_path / "let_stage.cram"  # renaming a let reads the specs below its folder
    analysis = analyze(text, str(path))
    col = text.split("\n")[3].index("act") + 2
    assert definition(analysis, path.as_uri(), 4, col).range.start == at(0, 4)
    edits = rename(analysis, path.as_uri(), 1, 6, "mixer").changes[path.as_uri()]
    assert sorted((e.range.start.line, e.range.start.character) for e in edits) == [(0, 4), (3, col - 2)]
    shown = hover(analysis, 4, col).contents.value
    assert "let act = choice(relu, gelu)" in shown and "**output** `[4]`" in shown


def test_a_half_typed_spec_has_its_diagnostics_inside_the_document():
    # "unexpected end of file" pointed one past the last character (some clients refuse such a range)
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.diagnostics import diagnostics

    for text in ("model ", "model m {\n", "model m {\n    input x: [1, ", "model m {\n    input x: [4]\n    x ->"):
        lines = text.split("\n")
        (diagnostic,) = diagnostics(analyze(text, "/tmp/eof.cram"), "file:///tmp/eof.cram")
        for end in (diagnostic.range.start, diagnostic.range.end):
            assert end.line < len(lines) and end.character <= len(lines[end.line]), (text, diagnostic.range)


def test_renaming_beside_a_fifo_named_like_a_spec_does_not_hang(tmp_path):
    # rename read every `*.cram` below the file's folder, a named pipe too: the server blocked forever
    import os
    import threading

    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.navigation import rename

    parts, main = _two_files(tmp_path)
    fifo = tmp_path / "pipe.cram"
    os.mkfifo(fifo)
    analysis = analyze(parts.read_text(), str(parts))
    found = []
    worker = threading.Thread(
        target=lambda: found.append(rename(analysis, parts.as_uri(), 4, 8, "double")), daemon=True
    )
    worker.start()
    worker.join(10)
    if worker.is_alive():  # let the blocked reader see the end of the pipe, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert found and main.as_uri() in found[0].changes


def test_hover_on_a_run_time_size_says_which_axes_it_measures():
    from cramnet.lsp.analysis import analyze
    from cramnet.lsp.hover import hover

    text = "model m {\n    input x: [seq, 8]\n    input t: tokens[seq]\n    x -> dense(4) as y\n    output y\n}\n"
    shown = hover(analyze(text, "/tmp/sizes.cram"), 2, 16)
    assert shown is not None and "(run-time size) `seq`: the length of `x` axis 1, `t` axis 1" in shown.contents.value
    assert shown.range.start == at(1, 14)


def test_a_merge_offers_bound_values_and_a_let_does_not_offer_itself():
    # add( offered the lets too (a merge takes values); `let e = ` offered e
    merged = set(_typed(model="y = add(x, ‸"))
    assert {"x", "h"} <= merged and "d" not in merged
    assert "dim =" in set(_typed(model="y = concat(x, ‸"))
    text = "let d = 8\nlet e = 4\n"
    labels = _offered("let d = 8\nlet e = ‸\n", text)
    assert "d" in labels and "e" not in labels


def test_a_block_headers_default_offers_flags_and_lets():
    # `block b(causal = ` offered nothing
    labels = _offered("let d = 8\nblock b(width = ‸\n", "let d = 8\n")
    assert {"true", "false", "none", "d"} <= set(labels)
    assert _offered("let d = 8\nblock b(wid‸\n", "let d = 8\n") == []  # a parameter's name is new
