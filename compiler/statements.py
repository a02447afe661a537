"""The statements of a forward pass, one or two per node, over the nodes' own variable names.

`node_statements` writes what each node computes — its call, the padding mask, recurrent state or
graph object it passes on — with every value named by its node's identifier (`pre_ln_3_add_1`) and
every module as `self.<identifier>`. Codegen then places each statement in the class of the unit
that holds its node and renames those names to the class's own (`rename`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..blocks.registry import Construct
from .model_graph import INPUT, ModelGraph
from .sharing import uses_anothers_module


@dataclass
class Statement:
    """`targets = expression  # comment`, in flat names; `reads` the values it uses, in order."""

    targets: list[str]
    expression: str
    comment: str = ""
    reads: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()  # identifiers of nodes whose module it uses (`self.x`)


def has_mask(value) -> bool:
    """Sequence inputs — tokens[seq] and [seq, d] — take an optional padding mask."""
    return (value.kind == "tokens" and value.rank == 1) or (value.kind == "float" and value.rank == 2)


def node_statements(model: ModelGraph, constructs: dict[str, Construct], order: list[str]) -> dict[str, list]:
    """Each node's statements: its call, and the padding mask or graph object it passes on."""
    graph = model.graph
    attr = {node: graph.nodes[node].attr for node in order}
    masks: dict[str, str | None] = {}
    graphs: dict[str, str | None] = {}  # the graph object (edges, batch) a node-valued output lives on
    values = {name for a in attr.values() for name in (a, f"{a}_mask", f"{a}_state", f"{a}_graph")}
    statements: dict[str, list[Statement]] = {}
    in_masks: dict[str, str | None] = {}

    def statement(targets: list[str], expression: str, comment: str = "") -> Statement:
        reads, modules = _names(expression, values)
        return Statement(targets, expression, comment, reads, modules)

    for node in order:
        attrs, name = graph.nodes[node], attr[node]
        if attrs.block == INPUT:
            masks[node] = f"{name}_mask" if has_mask(attrs.type) else None
            graphs[node] = f"{name}_graph" if attrs.type.kind == "graph" else None
            if attrs.type.kind == "graph":
                statements[node] = [
                    statement([f"{name}_graph"], name),
                    statement([name], f"{name}_graph.x", f"node features; edges stay in {name}_graph"),
                ]
            continue
        spec, args, sources = attrs.spec, attrs.args, attrs.inputs
        names = [attr[i] for i in sources]
        types = [graph.nodes[i].type for i in sources]
        module = f"self.{name}" if node in constructs else None
        if uses_anothers_module(attrs):  # `share = NAME`: NAME's module
            module = f"self.{graph.nodes[attrs.shares].attr}"
        in_mask = next((masks[i] for i in sources if masks[i]), None)
        in_masks[node] = masks[sources[0]] if sources else None
        in_graph = next((graphs[i] for i in sources if graphs[i]), None)
        if spec.forward is not None:
            expression = spec.forward(module, names, args, types)
        else:
            extra = []
            if spec.stateful and getattr(args, "state", None) is not None:
                extra.append(f"state={args.state.attr}_state")
            if spec.masked:
                if sources and masks[sources[0]]:
                    extra.append(f"mask={masks[sources[0]]}")
                tensor_args = [a.name for a in spec.args if a.kind == "tensor" and getattr(args, a.name) is not None]
                extra += [f"{arg}_mask={masks[i]}" for arg, i in zip(tensor_args, sources[1:]) if masks[i]]
            if spec.graph and in_graph:
                extra.append(f"graph={in_graph}")
            expression = f"{module}({', '.join(names + extra)})"
        targets = [name, f"{name}_state"] if spec.stateful else [name, f"{name}_graph"] if spec.makes_graph else [name]
        made = [statement(targets, expression, batched(attrs.type))]
        masks[node] = _mask_after(spec.positions, in_mask, types[0] if types else None, attrs.type)
        graphs[node] = f"{name}_graph" if spec.makes_graph else in_graph if attrs.type.kind == "graph" else None
        if masks[node] and masks[node] != in_mask:  # a new mask; the input's may be None at run time
            made.append(statement([f"{name}_mask"], f"None if {in_mask} is None else {masks[node]}"))
            masks[node] = f"{name}_mask"
        statements[node] = made
    for run in _chains(model, constructs, order):  # `lstm(h) -> lstm(h)`: one call of the block's `chain`
        first, last = run[0], run[-1]
        if any(len(statements[n]) > 1 for n in run[:-1]):
            continue
        stages = ", ".join(f"self.{attr[n]}" for n in run)
        source, mask = attr[graph.nodes[first].inputs[0]], in_masks[first] or "None"
        targets = [attr[last]] + [f"{attr[n]}_state" for n in run]
        expression = f"{constructs[first].cls.__name__}.chain(({stages}), {source}, {mask})"
        joined = statement(targets, expression, f"{len(run)} calls in one {batched(graph.nodes[last].type)}")
        for node in run[:-1]:
            statements[node] = []
        statements[last] = [joined] + statements[last][1:]
    return statements


def _chains(model: ModelGraph, constructs: dict[str, Construct], order: list[str]) -> list[list[str]]:
    """Runs of two or more calls that may run as one (`BlockSpec.chains`): each call feeds only the
    next, which reads nothing else, in the same module of the generated tree."""
    graph, runs, taken = model.graph, [], set()
    outputs = set(model.outputs.values())
    for node in order:
        if node in taken:
            continue
        run = [node]
        while True:
            before = run[-1]
            after = [target for _, target in graph.out_edges(before)]
            if len(after) != 1 or before in outputs or not _may_chain(graph, constructs, before, after[0]):
                break
            run.append(after[0])
        if len(run) > 1:
            runs.append(run)
            taken.update(run)
    return runs


def _may_chain(graph, constructs: dict[str, Construct], before: str, after: str) -> bool:
    a, b = graph.nodes[before], graph.nodes[after]
    if a.spec is None or a.spec is not b.spec or a.spec.chains is None or b.inputs != [before]:
        return False
    if before not in constructs or after not in constructs or constructs[before].cls is not constructs[after].cls:
        return False
    alone = a.shares is None and b.shares is None and not a.unit_shared and not b.unit_shared
    return alone and a.layout == b.layout and a.spec.chains(a.args, b.args)


def _mask_after(positions: str, mask: str | None, before, after) -> str | None:
    """The padding mask of a node's output: the input's, none, or a new one from a template."""
    if mask is None or positions == "drop":
        return None
    if positions == "keep":
        return mask
    if positions == "auto":
        same_positions = before is not None and before.rank == after.rank and before.rank >= 1
        return mask if same_positions and before.dims[0] == after.dims[0] else None
    return positions.format(mask=mask)


def batched(value) -> str:
    """The shape comment of a value: `(B, seq, 768)`."""
    if value.kind in ("graph", "edges"):  # no batch axis: the graphs' nodes (or pairs) are stacked, Σ over the batch
        inner = ", ".join([f"Σ{value.dims[0]}", *(str(d) for d in value.dims[1:])]) + ("," if value.rank == 1 else "")
        return f"({inner}) {value.kind}"
    inner = ", ".join(["B", *(str(d) for d in value.dims)])
    return f"({inner})" + ("" if value.kind == "float" else f" {value.kind}")


# an expression's tokens: a string literal, a name, a number, `==` and other two-character operators, one character
_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[A-Za-z_]\w*|\d[\w.]*|[=!<>]=|\S""")


def _names(expression: str, values: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The values an expression reads and the modules (`self.x`) it uses, in order of appearance."""
    reads, modules = [], []
    for kind, name, _ in _walk(expression, values):
        (modules if kind == "module" else reads).append(name)
    return tuple(dict.fromkeys(reads)), tuple(dict.fromkeys(modules))


def _walk(expression: str, values: set[str]):
    """(kind, name, (start, end)) for each value name and `self.<name>` module in an expression;
    attribute names (`x.shape`) and keyword names (`mask=`) are neither."""
    tokens = list(_TOKEN.finditer(expression))
    text = [t.group() for t in tokens]
    for i, token in enumerate(text):
        if not (token[0].isalpha() or token[0] == "_"):
            continue
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if before == "." and i >= 2 and text[i - 2] == "self" and (i < 3 or text[i - 3] != "."):
            yield "module", token, (tokens[i - 2].start(), tokens[i].end())
        elif before != "." and after != "=" and token in values:
            yield "value", token, (tokens[i].start(), tokens[i].end())


def rename(expression: str, values: dict[str, str], modules: dict[str, str]) -> str:
    """The expression with value names and `self.<name>` modules replaced (comments untouched)."""
    pieces, last = [], 0
    for kind, name, (start, end) in _walk(expression, set(values)):
        table = modules if kind == "module" else values
        if name in table:
            pieces += [expression[last:start], table[name]]
            last = end
    return "".join(pieces) + expression[last:]
