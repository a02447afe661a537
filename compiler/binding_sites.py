"""Where a declaration binds a name, for the hint on a name used where it is not bound: before the
line that binds it, or outside the `{ }` body that binds it (bodies keep their names); or a size
that an input's type names, known only at run time."""

from __future__ import annotations

from collections.abc import Iterator

from ..dsl import ast
from ..dsl.errors import Span
from .loader import SpecModule


def unbound_hint(module: SpecModule, name: str, used: Span) -> str | None:
    """Why `name`, bound somewhere in the declaration around `used`, is not bound at `used`; None
    when the declaration does not bind it."""
    site = _binding_site(module, name, used)
    if site is None:
        return None
    if (site.line, site.col) > (used.line, used.col):
        return f"'{name}' is bound later, on line {site.line}: bind a value before the line that uses it"
    return f"'{name}' is bound inside a `{{ }}` body, on line {site.line}, and names bound in a body stay in it"


def size_hint(module: SpecModule, name: str, used: Span) -> str | None:
    """`dense(seq)` where `seq` is a size of an input: known only at run time, it cannot size a weight."""
    for decl in module.tree.declarations:
        if decl.span.holds(used) and isinstance(decl, ast.ModelDef):
            for statement in decl.body.statements:
                if isinstance(statement, ast.InputDecl) and any(
                    isinstance(node, ast.Name) and node.name == name for node in _nodes(statement.type)
                ):
                    return (
                        f"'{name}' is a size known only at run time (input '{statement.name}', line "
                        f"{statement.span.line}); an argument needs a number: `let {name} = …` fixes it for both"
                    )
    return None


def _nodes(node: ast.Node) -> Iterator[ast.Node]:
    yield node
    for child in ast.children(node):
        yield from _nodes(child)


def _binding_site(module: SpecModule, name: str, used: Span) -> Span | None:
    for decl in module.tree.declarations:
        if decl.span.holds(used):
            return next(
                (site for bound, site, statement in _bindings(decl) if bound == name and not statement.holds(used)),
                None,
            )
    return None


def _bindings(node: ast.Node) -> Iterator[tuple[str, Span, Span]]:
    """(name, where it is written, its statement) for each `name = …` and `… as name`, in source order."""
    if isinstance(node, ast.Binding):
        yield node.name, node.name_span, node.span
    elif isinstance(node, ast.Stage) and node.alias and node.alias_span:
        yield node.alias, node.alias_span, node.span
    for child in ast.children(node):
        if not isinstance(child, ast.Args):  # no binding in an argument
            yield from _bindings(child)
