"""A heterogeneous graph's types from its input declaration: `graph[n, F, nodes = [..], edges = [..]]`.

`nodes` lists the node types, `edges` the edge types as (source, relation, target) triples, as
PyG's `HeteroData.metadata()`; their order numbers the run-time `node_type` and `edge_type`.
"""

from __future__ import annotations

from ..blocks.tensor_type import GraphSchema
from ..dsl import ast
from ..dsl.errors import SpecError, did_you_mean

_OPTIONS = ("nodes", "edges")
_EXAMPLE = "nodes = [gene, drug], edges = [[drug, targets, gene]]"


def graph_schema(options: tuple[ast.Kwarg, ...], errors: list[SpecError]) -> GraphSchema | None:
    """The declared types (None when there are none); mistakes are added to `errors`."""
    given: dict[str, ast.Expr] = {}
    before = len(errors)
    for option in options:
        if option.name not in _OPTIONS:
            hint = did_you_mean(option.name, _OPTIONS) or f"a graph type takes {_EXAMPLE}"
            errors.append(
                SpecError(code="E301", message=f"a graph type has no '{option.name}'", span=option.span, hint=hint)
            )
        elif option.name in given:
            errors.append(SpecError(code="E306", message=f"'{option.name}' is given twice", span=option.span))
        else:
            given[option.name] = option.value
    if not given:
        return None
    node_types = (_names(given["nodes"], "nodes", errors) or ()) if "nodes" in given else ()
    edge_types: list[tuple[str, str, str]] = []
    if "edges" in given:
        items = _items(given["edges"], "edges", errors)
        if items and "nodes" not in given:  # `edges = 3` is one mistake: not a list
            errors.append(_error("edge types need their node types declared too", given["edges"]))
        for item in items:
            parts = item.items if isinstance(item, ast.ListExpr) else ()
            if len(parts) != 3 or not all(isinstance(part, (ast.Name, ast.String)) for part in parts):
                errors.append(_error("an edge type is [source, relation, target]", item))
                continue
            triple = tuple(_name(part) for part in parts)
            shown = f"[{', '.join(triple)}]"
            for end in (triple[0], triple[2]):
                if node_types and end not in node_types:
                    hint = did_you_mean(end, node_types) or f"the node types are {', '.join(node_types)}"
                    errors.append(_error(f"edge type {shown} names '{end}', which is not a node type", item, hint))
            if triple in edge_types:
                errors.append(SpecError(code="E306", message=f"edge type {shown} is listed twice", span=item.span))
            edge_types.append(triple)
    if len(errors) > before:
        return None
    return GraphSchema(tuple(node_types), tuple(edge_types))


def _error(message: str, expr: ast.Node, hint: str | None = None) -> SpecError:
    return SpecError(code="E304", message=message, span=expr.span, hint=hint or f"for example: {_EXAMPLE}")


def _items(expr: ast.Expr, what: str, errors: list[SpecError]) -> tuple:
    if not isinstance(expr, ast.ListExpr) or not expr.items:
        errors.append(_error(f"'{what}' is a non-empty list", expr))
        return ()
    return expr.items


def _names(expr: ast.Expr, what: str, errors: list[SpecError]) -> tuple[str, ...] | None:
    """The bare names (or strings) of a list; None after recording what is wrong."""
    items = _items(expr, what, errors)
    if not items:
        return None
    if not all(isinstance(item, (ast.Name, ast.String)) for item in items):
        errors.append(_error(f"'{what}' lists names", expr))
        return None
    names = tuple(_name(item) for item in items)
    if len(set(names)) != len(names):
        errors.append(_error(f"'{what}' lists a name twice", expr))
        return None
    return names


def _name(item: ast.Name | ast.String) -> str:
    return item.name if isinstance(item, ast.Name) else item.value
