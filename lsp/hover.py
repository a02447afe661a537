"""Hover: a stage's output shape, parameters and FLOPs; a block's signature and doc; where a bound
name comes from and its shape."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from ..blocks.dims import symbols
from ..blocks.registry import lookup
from ..dsl import ast
from ..dsl.errors import Span
from .analysis import Analysis, file_text
from .graph_view import NodeView, bound_nodes, io_types
from .ranges import contains, name_span, source_text, span_range
from .symbols import CallSite, Symbol


def hover(analysis: Analysis, line: int, col: int) -> types.Hover | None:
    site = analysis.index.call_at(line, col)
    if site is not None and (site.symbol is None or site.symbol.kind == "block"):
        text = "\n\n".join(part for part in (_block_doc(analysis, site.call.name), _stage(analysis, site)) if part)
        return _answer(text, site.call.name_span) if text else None
    found = analysis.index.at(line, col)
    if found is None:
        return _used_let(analysis, line, col) or _run_time_size(analysis, line, col) or _argument(analysis, line, col)
    span, symbol = found
    if symbol.kind == "let" and site is not None:  # a let of blocks as a stage: the let, and what the stage made
        text = "\n\n".join(part for part in (_let(analysis, symbol), _stage(analysis, site)) if part)
        return _answer(text, span)
    if symbol.kind in ("input", "bound"):
        return _answer(_bound(analysis, symbol), span)
    if symbol.kind == "block":
        return _answer(_block_doc(analysis, symbol.name), span)
    if symbol.kind == "model":
        return _answer(_model(analysis, symbol.name), span)
    return _answer(_let(analysis, symbol), span)


def _let(analysis: Analysis, symbol: Symbol) -> str:
    """A let's or a parameter's declaration."""
    owner = f" of block `{symbol.container.name}`" if symbol.container is not None else ""
    what = "parameter" if symbol.kind == "param" else "let"
    return f"({what}{owner})\n```cram\n{source_text(symbol.whole, analysis.text)}\n```"


def show_value(value: object) -> str:
    """A default as a spec writes it: `true`, `none`, `1e-05`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _answer(text: str, span: Span) -> types.Hover:
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=span_range(span))


def _used_let(analysis: Analysis, line: int, col: int) -> types.Hover | None:
    name = analysis.index.unresolved_at(line, col)
    used = analysis.used_let(source_text(name, analysis.text)) if name is not None else None
    if used is None:
        return None
    path, let = used
    text = source_text(let.span, file_text(path))
    return _answer(f"(let) — from `{Path(path).name}`\n```cram\n{text}\n```", name)


def _run_time_size(analysis: Analysis, line: int, col: int) -> types.Hover | None:
    """A size an input's type names (`seq` in `input x: [seq, 8]`): which axes it measures."""
    name = analysis.index.unresolved_at(line, col)
    if name is None:
        return None
    word = source_text(name, analysis.text)
    axes = [
        f"`{input_name}` axis {axis}"
        for checked in analysis.checked
        for input_name, kind in checked.input_types.items()
        for axis, dim in enumerate(getattr(kind, "dims", ()), 1)
        if word in symbols(dim)
    ]
    if not axes:
        return None
    where = ", ".join(dict.fromkeys(axes))
    return _answer(
        f"(run-time size) `{word}`: the length of {where}, known when the model runs — from the data, "
        f"or `--dim {word}=N` for `summary` and `compile`",
        name,
    )


def _argument(analysis: Analysis, line: int, col: int) -> types.Hover | None:
    """The argument named in a `key = value` of a call: its parameter line, or its kind, default and doc."""
    for site in analysis.index.calls:
        for kwarg in site.call.args.keyword if site.call.args is not None else ():
            span = name_span(kwarg.span, kwarg.name)
            if not contains(span, line, col):
                continue
            user = _user_block(analysis, site.call.name)
            if user is not None:
                path, text, block = user
                param = next((p for p in block.params if p.name == kwarg.name), None)
                if param is None:
                    return None
                return _answer(
                    f"(parameter of block `{block.name}`)\n```cram\n{source_text(param.span, text)}\n```", span
                )
            spec = lookup(site.call.name)
            arg = spec.arg(kwarg.name) if spec is not None else None
            if arg is None:
                return None
            default = "required" if arg.required else f"default {show_value(arg.default)}"
            choices = f"; one of {', '.join(arg.choices)}" if arg.choices else ""
            doc = f"\n\n{arg.doc}" if arg.doc else ""
            return _answer(f"`{arg.name}` of `{spec.name}`: {arg.kind}, {default}{choices}{doc}", span)
    return None


# -- blocks -------------------------------------------------------------------------------------


def _block_doc(analysis: Analysis, name: str) -> str | None:
    """A user block's signature and leading comment, or a primitive block's signature and doc."""
    definition = _user_block(analysis, name)
    if definition is not None:
        path, text, block = definition
        params = ", ".join(source_text(p.span, text) for p in block.params)
        where = "" if path == analysis.path else f" — from `{Path(path).name}`"
        doc = _leading_comment(text, block.span.line)
        return f"```cram\nblock {name}({params})\n```{where}" + (f"\n\n{doc}" if doc else "")
    spec = lookup(name)
    if spec is None:
        return None
    return f"```cram\n{spec.signature()}\n```\n({spec.family})\n\n{spec.doc}"


def _user_block(analysis: Analysis, name: str) -> tuple[str, str, ast.BlockDef] | None:
    files = [(analysis.path, analysis.text, analysis.tree)]
    for path, tree in analysis.used_trees().items():
        files.append((path, file_text(path), tree))
    for path, text, tree in files:
        for decl in tree.declarations if tree is not None else ():
            if isinstance(decl, ast.BlockDef) and decl.name == name:
                return path, text, decl
    return None


def _leading_comment(text: str, line: int) -> str:
    """The `#` lines right above line `line` (1-based), without their `#`."""
    lines = text.split("\n")
    found: list[str] = []
    index = line - 2
    while index >= 0 and lines[index].lstrip().startswith("#"):
        found.insert(0, lines[index].lstrip()[1:].strip())
        index -= 1
    return " ".join(found)


# -- stages and bound values ----------------------------------------------------------------------


def _stage(analysis: Analysis, site: CallSite) -> str | None:
    """What the graph knows of the call: one node per copy for a primitive block; for a user block
    called in a model, the nodes of its instance, found from the value the stage hands on."""
    for checked in analysis.checked:
        views = analysis.views(checked)
        made = sorted((v for v in views.values() if v.span == site.call.span), key=lambda v: v.order)
        if made:
            return _cost(made, len(made))
        inner, copies = _instance_nodes(analysis, site, views)
        if inner:
            output = _stage_output(site, views, bound_nodes(checked)) if copies == 1 else None
            return _cost(inner, copies, output, "instances of the block")
    return None


def _instance_nodes(analysis: Analysis, site: CallSite, views: dict[str, NodeView]) -> tuple[list[NodeView], int]:
    """The nodes a user block's call in a model body made, and how many instances they are: the
    k-th of its calls made its k-th instance, and a lone call under `* N` made all of them."""
    if site.container is None or site.container.kind != "model":
        return [], 0
    name = site.call.name
    calls = [c for c in analysis.index.calls if c.container is site.container and c.call.name == name]
    instances: dict[str, list[NodeView]] = {}
    for view in views.values():
        if view.instance is not None and view.instance[0] == name:
            instances.setdefault(view.instance[1], []).append(view)
    if len(calls) == 1 and instances:
        return [v for made in instances.values() for v in made], len(instances)
    if any(c.repeated for c in calls) or len(instances) != len(calls):
        return [], 0
    return list(instances.values())[calls.index(site)], 1


def _stage_output(site: CallSite, views: dict[str, NodeView], bound: dict[str, str]) -> NodeView | None:
    if site.container is None or site.container.kind != "model":
        return None
    if site.alias is not None and site.alias in bound:
        return views.get(bound[site.alias])
    if site.next_call is not None:
        reader = next((v for v in views.values() if v.span == site.next_call.span and v.inputs), None)
        if reader is not None:
            return views.get(reader.inputs[0])
    return None


def _cost(
    nodes: list[NodeView], copies: int, output: NodeView | None = None, what: str = "nodes from this call"
) -> str:
    last = output or max(nodes, key=lambda v: v.order)
    params = sum(v.params for v in nodes)
    lines = [f"**output** `{last.shape}`", f"**parameters** {params:,}"]
    flops = sum((v.flops for v in nodes), 0)  # a polynomial in run-time sizes adds up its like terms
    lines.append(f"**FLOPs** {flops:,} per example" if isinstance(flops, int) else f"**FLOPs** {flops} per example")
    if copies > 1:
        shapes = sorted({v.shape for v in nodes})
        varied = f" (outputs {', '.join(shapes)})" if len(shapes) > 1 and what.startswith("nodes") else ""
        lines.append(f"{copies} {what}{varied}, parameters and FLOPs of all of them")
    return "  \n".join(lines)


def _bound(analysis: Analysis, symbol: Symbol) -> str:
    line = symbol.whole.line
    if symbol.kind == "input":
        head = f"input `{symbol.name}` (declared on line {line})"
    else:
        head = (
            f"`{symbol.name}`, bound on line {line}:\n```cram\n{source_text(symbol.whole, analysis.text).strip()}\n```"
        )
    if symbol.container is None or symbol.container.kind != "model":
        owner = symbol.container.name if symbol.container is not None else "?"
        return f"{head}\n\nits shape depends on the call of block `{owner}`"
    for checked in analysis.checked:
        if checked.name != symbol.container.name:
            continue
        node = bound_nodes(checked).get(symbol.name)
        view = analysis.views(checked).get(node) if node is not None else None
        if view is not None:
            return f"{head}\n\n**shape** `{view.shape}` (node `{view.name}`, {view.block})"
    return head


def _model(analysis: Analysis, name: str) -> str:
    for checked in analysis.checked:
        if checked.name == name:
            views = analysis.views(checked).values()
            typed_inputs, typed_outputs = io_types(checked)
            inputs = ", ".join(f"{k}: {v}" for k, v in typed_inputs.items())
            outputs = ", ".join(f"{k}: {v}" for k, v in typed_outputs.items())
            params = sum(v.params for v in views)
            return f"model `{name}`: {len(views) - len(typed_inputs)} nodes, {params:,} parameters  \n" + (
                f"inputs {inputs}  \noutputs {outputs}"
            )
    return f"model `{name}` (not checked: see its errors)"
