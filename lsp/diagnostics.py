"""Spec errors as LSP diagnostics, and the quick fix a "did you mean 'X'?" hint offers."""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types

from ..compiler.loader import resolve_use_path
from ..dsl.errors import Span, SpecError
from .analysis import Analysis
from .ranges import inside, span_range

SOURCE = "cramnet"
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")
_START = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def diagnostics(analysis: Analysis, uri: str) -> list[types.Diagnostic]:
    if analysis.internal is not None:
        return internal_error(analysis.internal)
    return [_diagnostic(error, analysis, uri) for error in analysis.errors]


def internal_error(what: str) -> list[types.Diagnostic]:
    """The one diagnostic shown when cramnet itself failed on a file."""
    return [
        types.Diagnostic(
            range=_START,
            message=f"cramnet's checker failed on this file (a bug; please report it): {what}",
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
            code="internal",
        )
    ]


def _diagnostic(error: SpecError, analysis: Analysis, uri: str) -> types.Diagnostic:
    message = error.message
    where = inside(_local_range(error.span, analysis), analysis.text)
    if error.span is not None and error.span.file != analysis.path:
        message = f"{message} (in {error.span})"  # a mistake inside a used file, shown on its `use`
    related = []
    if error.hint:
        hint = types.Location(uri=uri, range=where)
        related.append(types.DiagnosticRelatedInformation(location=hint, message=f"hint: {error.hint}"))
    for span, note in error.notes:
        location = types.Location(uri=_uri(span, analysis, uri), range=span_range(span))
        related.append(types.DiagnosticRelatedInformation(location=location, message=note))
    fix = _DID_YOU_MEAN.search(error.hint or "")
    target = _misspelt(error.span, analysis) if fix is not None else None
    return types.Diagnostic(
        range=where,
        message=f"{message}\nhint: {error.hint}" if error.hint else message,
        severity=types.DiagnosticSeverity.Error,
        code=error.code,
        source=SOURCE,
        related_information=related or None,
        data={"replace": fix.group(1), "range": _plain(span_range(target))} if fix and target else None,
    )


def _misspelt(span: Span | None, analysis: Analysis) -> Span | None:
    """The word a did-you-mean hint would replace: the whole span when it is one name, or the
    name of a `key = value` argument; None where no single word is meant."""
    if span is None or span.file != analysis.path or span.line != span.end_line:
        return None
    lines = analysis.text.split("\n")
    if not 1 <= span.line <= len(lines):
        return None
    covered = lines[span.line - 1][span.col - 1 : span.end_col - 1]
    word = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(\s*=.*)?$", covered, re.DOTALL)
    if word is None:
        return None
    return Span(file=span.file, line=span.line, col=span.col, end_line=span.line, end_col=span.col + len(word.group(1)))


def _plain(where: types.Range) -> list[int]:
    return [where.start.line, where.start.character, where.end.line, where.end.character]


def _local_range(span: Span | None, analysis: Analysis) -> types.Range:
    """The error's range in this document: its own span, or the `use` that brought the file in."""
    if span is None:
        return _START
    if span.file == analysis.path:
        return span_range(span)
    for use in analysis.index.uses:
        target = resolve_use_path(use.path, analysis.path)
        if target is not None and str(target) == span.file:
            return span_range(use.span)
    return _START


def _uri(span: Span, analysis: Analysis, uri: str) -> str:
    return uri if span.file == analysis.path or span.file.startswith("<") else Path(span.file).as_uri()


def quick_fixes(params: types.CodeActionParams) -> list[types.CodeAction]:
    """For each diagnostic with a did-you-mean hint: replace the name with the suggestion."""
    actions = []
    for diagnostic in params.context.diagnostics:
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        replacement = data.get("replace")
        if diagnostic.source != SOURCE or not isinstance(replacement, str):
            continue
        where = data.get("range")
        if isinstance(where, list) and len(where) == 4:
            start, end = (
                types.Position(line=where[0], character=where[1]),
                types.Position(line=where[2], character=where[3]),
            )
            target = types.Range(start=start, end=end)
        else:
            target = diagnostic.range
        edit = types.TextEdit(range=target, new_text=replacement)
        actions.append(
            types.CodeAction(
                title=f"Change to '{replacement}'",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                is_preferred=True,
                edit=types.WorkspaceEdit(changes={params.text_document.uri: [edit]}),
            )
        )
    return actions
