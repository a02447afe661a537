"""`cramnet summary --tree`: the model's blocks as a rich tree, from the scopes on each node."""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from ..compiler.model_graph import INPUT, GraphScope, ModelGraph
from .labels import call_text, params_text


def summary_tree(model: ModelGraph) -> Tree:
    graph = model.graph
    nodes = sorted(graph.nodes, key=lambda n: graph.nodes[n].order)
    totals: dict[tuple[str, int], int] = {}
    for node in nodes:
        for scope in graph.nodes[node].scopes:
            key = _key(scope)
            totals[key] = totals.get(key, 0) + graph.nodes[node].params
    total = sum(graph.nodes[n].params for n in nodes)
    root = Tree(Text.assemble(("model ", "bold"), (model.name, "bold cyan"), f" · {params_text(total)}"))
    open_: list[tuple[tuple[str, int], Tree]] = []
    for node in nodes:
        attrs = graph.nodes[node]
        chain = attrs.scopes
        keep = 0
        while keep < min(len(open_), len(chain)) and open_[keep][0] == _key(chain[keep]):
            keep += 1
        del open_[keep:]
        for scope in chain[keep:]:
            parent = open_[-1][1] if open_ else root
            open_.append((_key(scope), parent.add(_scope_text(scope, totals[_key(scope)]))))
        parent = open_[-1][1] if open_ else root
        if attrs.block == INPUT:
            parent.add(Text.assemble((node, "bold"), "  input ", (str(attrs.type), "green")))
            continue
        line = Text.assemble(
            (node, "bold"),
            "  ",
            (call_text(attrs.block, attrs.spec, attrs.args), "cyan"),
            "  ",
            (str(attrs.type), "green"),
        )
        if attrs.params:
            line.append(f"  {attrs.params:,}", style="magenta")
        parent.add(line)
    for name, node in model.outputs.items():
        root.add(Text.assemble(("output ", "bold"), name, " ← ", node, "  ", (str(graph.nodes[node].type), "green")))
    return root


def _key(scope: GraphScope) -> tuple[str, int]:
    """A repeat's copies share one branch; a parallel's branches are one branch each."""
    return scope.key, 0 if scope.kind == "repeat" else scope.index


def _scope_text(scope: GraphScope, params: int) -> Text:
    what = {
        "block": Text.assemble((scope.key, "bold yellow"), f" ({scope.label})"),
        "repeat": Text(f"× {scope.count}", style="bold blue"),
        "residual": Text("residual", style="bold green"),
        "parallel": Text(f"parallel · {scope.label}", style="bold"),
        "branch": Text(f"branch {scope.index}"),
    }.get(scope.kind, Text(scope.kind))
    if params:
        what.append(f" · {params_text(params)}", style="magenta")
    return what
