"""Imports run one way, down the stack (docs/architecture.md):

    errors → dsl → blocks → {compiler, weights} → {render, export, train, probe, views} → cli

A module may import its own layer and the layers below it, never one above; function-level imports
count as much as those at the top of a file. Inside the fourth layer the packages may lean on each
other (export and probe read run directories through train) but never in a circle. bench/ and tests/
stand outside the rule: they may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cramnet"
OUTSIDE = {"tests", "bench"}

# The top-level pieces of the package and their layer; "" is the package itself (`__version__`).
LAYERS = {
    "": 0,
    "errors": 0,
    "dsl": 1,
    "blocks": 2,
    "compiler": 3,
    "weights": 3,  # published checkpoints onto checked specs: reads a CheckedModel, imports only errors
    "render": 4,
    "export": 4,
    "train": 4,
    "probe": 4,
    "views": 4,  # rich tables of what compiler and blocks report, for the command line
    "lsp": 4,  # the language server: the compiler kept warm for an editor
    "notebook": 4,  # the %%cram cell magic
    "search": 4,  # choice(…) spaces checked point by point, and `cramnet sweep` on Optuna
    "cli": 5,
}


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name: the top-level files and packages, minus tests/bench."""
    files = []
    for top in sorted(ROOT.iterdir()):
        if top.name.startswith(".") or top.name in OUTSIDE:
            continue
        if top.suffix == ".py":
            files.append(top)
        elif (top / "__init__.py").exists():  # a subpackage (not a build directory, say)
            files += sorted(top.rglob("*.py"))
    modules = {}
    for path in files:
        names = list(path.relative_to(ROOT).with_suffix("").parts)
        if names[-1] == "__init__":
            names.pop()
        modules[".".join([PACKAGE, *names])] = path
    return modules


def imported_modules(name: str, path: Path, text: str | None = None) -> list[tuple[str, int]]:
    """(dotted module, line) for every import of the package's own modules in the file (or in `text`
    standing for it), at any depth: in functions, classes and conditionals too."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    text = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module:
                found.append((target, node.lineno))
            else:  # `from .. import x`: x is a submodule or a name of the package
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return [(module, line) for module, line in found if module == PACKAGE or module.startswith(PACKAGE + ".")]


def unit(module: str) -> str:
    """The top-level piece a dotted module belongs to ("" for the package itself and its names)."""
    piece = module.split(".")[1] if "." in module else ""
    return piece if piece in LAYERS else ""


def test_every_top_level_piece_has_a_layer():
    pieces = {name.split(".")[1] for name in package_modules() if "." in name}
    assert pieces <= set(LAYERS), f"give these a layer in LAYERS and docs/architecture.md: {pieces - set(LAYERS)}"


def test_imports_never_go_up_the_stack():
    upward = []
    for name, path in package_modules().items():
        here = unit(name)
        for module, line in imported_modules(name, path):
            if LAYERS[unit(module)] > LAYERS[here]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {here or PACKAGE} imports {module}")
    assert not upward, "imports up the stack:\n" + "\n".join(upward)


def test_packages_of_one_layer_never_import_in_a_circle():
    uses: dict[str, set[str]] = {piece: set() for piece in LAYERS}
    for name, path in package_modules().items():
        for module, _ in imported_modules(name, path):
            if unit(module) != unit(name) and LAYERS[unit(module)] == LAYERS[unit(name)]:
                uses[unit(name)].add(unit(module))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in uses[start])

    circles = sorted(piece for piece in uses if reaches(piece, piece, {piece}))
    assert not circles, f"these import each other in a circle: {circles} ({ {p: sorted(uses[p]) for p in circles} })"


def test_the_checker_sees_function_level_and_relative_imports():
    """The rule is only as good as its parser: an import inside a function, relative at any level."""
    text = "def f():\n    from ..cli import UserError\n    if True:\n        from .. import views\n"
    found = imported_modules("cramnet.render.command", ROOT / "render" / "command.py", text)
    assert found == [("cramnet.cli", 2), ("cramnet.views", 4)]
    assert imported_modules("cramnet.dsl", ROOT / "dsl" / "__init__.py", "from . import ast") == [
        ("cramnet.dsl.ast", 1)
    ]


def test_every_name_the_train_package_exports_loads():
    # `from cramnet.train import generate` looked in inference.py, which has no generate
    import cramnet.train

    for name in cramnet.train.__all__:
        assert getattr(cramnet.train, name) is not None, name
