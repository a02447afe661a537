"""Completion from the text before the cursor: `use` paths, a call's arguments and an enumerated
argument's choices, else what the place the cursor is at takes (lsp/place.py): declarations at the
top level, what starts a model's line, block names after `->`, an input's types, …"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from lsprotocol import types

from ..blocks.merges import MERGE_MODES
from ..blocks.registry import Arg, all_blocks, lookup
from ..compiler.loader import STD_DIR
from ..dsl import ast
from .analysis import Analysis, file_text
from .hover import show_value
from .place import Place, place_of
from .ranges import source_text

KEYWORDS = ("use", "let", "block", "model", "input", "output", "as", "in", "repeat", "residual", "parallel")
# `input NAME: …` (LANGUAGE.md §1): label, what is inserted, what it is
_INPUT_TYPES = (
    ("[d1, d2, …]", "[", "a float tensor per example"),
    ("tokens[seq]", "tokens[", "integer ids"),
    ("graph[nodes, F]", "graph[", "a batch of graphs: node features and their edges"),
)
_USE = re.compile(r'^\s*use\s+"([^"]*)$')
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[A-Za-z_0-9]*$")
_WORD_BEFORE_PAREN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[\t ]*$")  # a line break ends a statement
# where the cursor writes a new name (`x -> dense(4) as |`, `model |`): nothing there to complete
_NEW_NAME = re.compile(r"(\bas|^\s*(model|block|let|input))\s+[A-Za-z0-9_]*$")
_OUTPUT = re.compile(r"^\s*output\b[\w\s,]*$")
_GIVEN_KEY = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)")
_PARALLEL_ARGS = ("merge", "dim")  # `parallel(…)` is syntax, not a registered block


def complete(analysis: Analysis, text: str, line: int, col: int) -> list[types.CompletionItem]:
    """Items for the cursor at (line, col), 1-based, in `text` (the buffer as it is now)."""
    lines = text.split("\n")
    current = lines[line - 1][: col - 1] if line <= len(lines) else ""
    use = _USE.match(current)
    if use is not None:  # replace all typed since the quote: `std:` is not part of an editor's word
        start = types.Position(line=line - 1, character=current.rindex('"') + 1)
        typed = types.Range(start=start, end=types.Position(line=line - 1, character=col - 1))
        return _use_paths(analysis, typed)
    place = place_of("\n".join([*lines[: line - 1], current]))
    if place.kind in ("comment", "string") or _NEW_NAME.search(current):
        return []
    if place.kind == "use":  # `use |`: the path with its quotes
        here = types.Position(line=line - 1, character=col - 1)
        return [
            attrs.evolve(item, text_edit=types.TextEdit(range=item.text_edit.range, new_text=f'"{item.label}"'))
            for item in _use_paths(analysis, types.Range(start=here, end=here))
        ]
    if _OUTPUT.match(current):
        return [item for item in _values(analysis, line) if item.kind == types.CompletionItemKind.Variable]
    call = _open_call(place.code)
    if call is not None:
        return _in_call(analysis, place.code, line, *call)
    return _at(analysis, place, line)


def _in_call(analysis: Analysis, code: str, line: int, name: str, inside: str) -> list[types.CompletionItem]:
    """In the parentheses of a call to `name`, with `inside` written since its `(`."""
    if re.search(rf"\bblock\s+{name}\s*\($", code[: len(code) - len(inside)]):
        # a block's header declares its parameters; a default is a value: a let, a flag, none
        if _KEY.search(inside.rsplit(",", 1)[-1]) is None:
            return []
        lets = [item for item in _values(analysis, line) if item.kind == types.CompletionItemKind.Constant]
        return _keywords("true", "false", "none") + lets
    key = _KEY.search(inside.rsplit(",", 1)[-1])
    if key is not None:
        return _choices(analysis, name, key.group(1), line)
    if not inside.strip() or inside.rstrip().endswith(",") or re.search(r",\s*[A-Za-z_]\w*$", inside):
        given, positional = _given(inside)
        if _merges(name):  # `concat(a, b, |`: the values it merges are no arguments
            positional = 0
        arguments = _arguments(analysis, name)
        offered = [a for i, a in enumerate(arguments) if i >= positional and a.label[:-2] not in given]
        if not given:  # the next positional argument's own values first: `pool(mean)`, `gat(8, 2, false)`
            offered = _words(analysis, name, positional) + offered
        return offered + _values_for(analysis, name, line)
    return _values_for(analysis, name, line)


def _merges(name: str) -> bool:
    spec = lookup(name)
    return spec is not None and spec.merge


def _values_for(analysis: Analysis, name: str, line: int) -> list[types.CompletionItem]:
    """The values a call's positional argument may name: bound values alone for a merge (`add(a, |`)."""
    values = _values(analysis, line)
    if _merges(name):
        return [item for item in values if item.kind == types.CompletionItemKind.Variable]
    return values


def _at(analysis: Analysis, place: Place, line: int) -> list[types.CompletionItem]:
    """What can be written at a place outside a call's parentheses (LANGUAGE.md §1, §3)."""
    values = _values(analysis, line)
    bound = [item for item in values if item.kind == types.CompletionItemKind.Variable]
    lets = [item for item in values if item.kind == types.CompletionItemKind.Constant]

    def stages() -> list[types.CompletionItem]:
        return _blocks(analysis) + lets + _keywords("repeat", "residual", "parallel")

    if place.kind == "top":
        return _keywords("use", "let", "block", "model")
    if place.kind == "value":
        defined = re.match(r"\s*let\s+(\w+)\s*=", place.statement)  # `let e = |` does not offer e
        return [item for item in values if defined is None or item.label != defined.group(1)]
    if place.kind in ("line", "pipeline") and place.body == "model":
        # a model's line starts from an input, a bound name, a merge or a source, never a block call
        starts = [item for item in _blocks(analysis) if _starts_a_model_line(item.label)]
        return (_keywords("input", "output") if place.kind == "line" else []) + bound + starts
    if place.kind in ("line", "pipeline"):
        return stages() + bound + _keywords("in")
    if place.kind == "stage":
        return stages()
    if place.kind == "count":
        return [item for item in values if item.detail in ("let", "param")]
    if place.kind == "type":
        kind = types.CompletionItemKind.Keyword
        return [
            types.CompletionItem(label=label, kind=kind, insert_text=insert, filter_text=insert, detail=detail)
            for label, insert, detail in _INPUT_TYPES
        ]
    if place.kind == "dims":
        return lets + _dimension_symbols(analysis)
    if place.kind == "after":
        counted = re.search(r"(\*\s*|\brepeat\s+)(\w+|\([^()]*\))\s+\w*$", place.statement)
        return _keywords("as", "shared") if counted else _keywords("as")
    return [] if place.body == "top" else stages() + values + _keywords(*KEYWORDS)


def _open_call(before: str) -> tuple[str, str] | None:
    """The name of the call whose `(` is still open before the cursor, and what follows that `(`."""
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        char = before[i]
        if char in ")]":
            depth += 1
        elif char in "([":
            if depth == 0:
                if char == "[":
                    return None
                word = _WORD_BEFORE_PAREN.search(before[:i])
                return (word.group(1), before[i + 1 :]) if word is not None else None
            depth -= 1
        elif char in "{}":
            return None
    return None


def _given(inside: str) -> tuple[set[str], int]:
    """The keyword arguments written before the one being typed, and how many positional ones
    come first (positional arguments precede keyword ones)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(inside):
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(inside[start:i])
            start = i + 1
    keys = [m.group(1) if (m := _GIVEN_KEY.match(part)) else None for part in parts]
    positional = next((i for i, key in enumerate(keys) if key is not None), len(keys))
    return {key for key in keys if key is not None}, positional


def _use_paths(analysis: Analysis, typed: types.Range) -> list[types.CompletionItem]:
    """The standard library's files, and the specs beside this one."""
    found = [
        (f"std:{p.stem}", types.CompletionItemKind.Module, "standard library") for p in sorted(STD_DIR.glob("*.cram"))
    ]
    if not analysis.path.startswith("<"):
        here = Path(analysis.path)
        found += [(p.name, types.CompletionItemKind.File, "") for p in sorted(here.parent.glob("*.cram")) if p != here]
    return [
        types.CompletionItem(
            label=label, kind=kind, detail=detail or None, text_edit=types.TextEdit(range=typed, new_text=label)
        )
        for label, kind, detail in found
    ]


def _user_blocks(analysis: Analysis) -> dict[str, tuple[ast.BlockDef, str]]:
    """The blocks this file defines and those of the files it uses (its own shadow theirs), each
    with the text of its file."""
    found: dict[str, tuple[ast.BlockDef, str]] = {}
    files = [(tree, file_text(path)) for path, tree in analysis.used_trees().items()]
    for tree, text in [*files, (analysis.tree, analysis.text)]:
        if tree is None:
            continue
        for decl in tree.declarations:
            if isinstance(decl, ast.BlockDef):
                found[decl.name] = (decl, text)
    return found


def _blocks(analysis: Analysis) -> list[types.CompletionItem]:
    items = [
        types.CompletionItem(
            label=name,
            kind=types.CompletionItemKind.Function,
            detail=spec.signature(),
            documentation=spec.doc,
        )
        for name, spec in all_blocks().items()
    ]
    for name, (block, text) in _user_blocks(analysis).items():
        params = ", ".join(source_text(p.span, text) for p in block.params)
        items.append(
            types.CompletionItem(
                label=name, kind=types.CompletionItemKind.Class, detail=f"block {name}({params})", sort_text=f"0{name}"
            )
        )
    return items


def _arguments(analysis: Analysis, name: str) -> list[types.CompletionItem]:
    """`key = ` items for each argument of the block `name`, with its default."""
    if name == "parallel":
        return [
            types.CompletionItem(label=f"{arg} =", kind=types.CompletionItemKind.Field, insert_text=f"{arg} = ")
            for arg in _PARALLEL_ARGS
        ]
    user = _user_blocks(analysis).get(name)
    if user is not None:
        block, text = user
        return [
            types.CompletionItem(
                label=f"{p.name} =",
                kind=types.CompletionItemKind.Field,
                insert_text=f"{p.name} = ",
                detail="required" if p.default is None else f"default {source_text(p.default.span, text)}",
            )
            for p in block.params
        ]
    spec = lookup(name)
    if spec is None:
        return []
    items = []
    for arg in spec.args:
        default = "required" if arg.required else f"default {show_value(arg.default)}"
        choices = f"; one of {', '.join(arg.choices)}" if arg.choices else ""
        items.append(
            types.CompletionItem(
                label=f"{arg.name} =",
                kind=types.CompletionItemKind.Field,
                insert_text=f"{arg.name} = ",
                detail=f"{arg.kind}, {default}{choices}",
                documentation=arg.doc or None,
                sort_text=f"0{arg.name}",
            )
        )
    return items


def _choices(analysis: Analysis, name: str, key: str, line: int) -> list[types.CompletionItem]:
    """The values of the argument `key` of a call to `name`: its choices, `true`/`false`, else names."""
    if (name, key) == ("parallel", "merge"):
        return [types.CompletionItem(label=mode, kind=types.CompletionItemKind.EnumMember) for mode in MERGE_MODES]
    user = _user_blocks(analysis).get(name)
    if user is not None:
        param = next((p for p in user[0].params if p.name == key), None)
        if param is not None and isinstance(param.default, ast.Bool):
            return _keywords("true", "false")
        return _values(analysis, line)
    spec = lookup(name)
    arg = spec.arg(key) if spec is not None else None
    return _arg_words(arg) or _values(analysis, line)


def _words(analysis: Analysis, name: str, index: int) -> list[types.CompletionItem]:
    """The choices (or `true`/`false`) of the `index`-th argument of the primitive block `name`."""
    spec = lookup(name) if name not in _user_blocks(analysis) else None
    return _arg_words(spec.args[index]) if spec is not None and index < len(spec.args) else []


def _arg_words(arg: Arg | None) -> list[types.CompletionItem]:
    if arg is not None and arg.choices:
        return [types.CompletionItem(label=choice, kind=types.CompletionItemKind.EnumMember) for choice in arg.choices]
    if arg is not None and arg.kind == "bool":
        return _keywords("true", "false")
    return []


def _keywords(*words: str) -> list[types.CompletionItem]:
    return [types.CompletionItem(label=word, kind=types.CompletionItemKind.Keyword) for word in words]


def _starts_a_model_line(name: str) -> bool:
    spec = lookup(name)
    return spec is not None and (spec.merge or spec.source)


def _dimension_symbols(analysis: Analysis) -> list[types.CompletionItem]:
    """The run-time sizes (`seq`, `n`) the file's inputs already name."""
    lets = analysis.index.top("let")
    found: dict[str, None] = {}
    for decl in analysis.tree.declarations if analysis.tree is not None else ():
        for statement in decl.body.statements if isinstance(decl, ast.ModelDef) else ():
            for dim in statement.type.dims if isinstance(statement, ast.InputDecl) else ():
                if isinstance(dim, ast.Name) and dim.name not in lets:
                    found[dim.name] = None
    kind = types.CompletionItemKind.TypeParameter
    return [types.CompletionItem(label=name, kind=kind, detail="run-time size") for name in found]


def _values(analysis: Analysis, line: int) -> list[types.CompletionItem]:
    """Lets, and the names bound so far (before `line`) in the model or block around the cursor."""
    items = [
        types.CompletionItem(label=s.name, kind=types.CompletionItemKind.Constant, detail="let")
        for s in analysis.index.top("let").values()
    ]
    around = analysis.index.enclosing(line)
    if around is not None:
        seen: set[str] = set()
        for symbol in around.children:
            if symbol.span.line < line and symbol.name not in seen:
                seen.add(symbol.name)
                items.append(
                    types.CompletionItem(label=symbol.name, kind=types.CompletionItemKind.Variable, detail=symbol.kind)
                )
    return items
