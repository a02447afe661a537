"""Naming: every node's Python identifier, and where its module lives in the generated module tree.

The generated module nests as the spec does (DESIGN.md, "Generated modules and checkpoints"):

- a user block instance is a submodule named as the spec names it (`ffn_1`), of a class of its own;
- `STAGE * N` and `repeat N { … }` are an `nn.ModuleList` of the copies, named after the repeated
  block (`pre_ln`) or `layers`; a copy that is one block instance is that block's module;
- a primitive block's module is an attribute named after its node (`attention_1`).

So GPT-2's first attention projection is `pre_ln.0.attention_1.q_proj.weight`. These module paths
are the checkpoint format of run directories: they depend only on the spec's structure and names.
Each node carries its chain of enclosing units (`layout`) and its own attribute name (`local`);
codegen rebuilds the module tree from them, for the whole model or for any part of it (probes).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field, replace

from torch import nn

from .model_graph import ModelGraph, Node

_RESERVED = {"self", "torch", "nn", "F", "math", "training"} | set(keyword.kwlist) | set(dir(nn.Module))
_SUFFIXES = ("_mask", "_state", "_graph")  # names generated code derives from a node's (`ids_mask`)


def assign_attributes(model: ModelGraph) -> None:
    """Give every node a Python identifier (its variable in a flat forward), unique and safe."""
    taken: set[str] = set()
    for node in model.graph.nodes:
        name = _identifier(node.replace(".", "_"))
        while name in taken:
            name += "_"
        taken.add(name)
        model.graph.nodes[node].attr = name


def _identifier(base: str) -> str:
    if base.startswith("__") and not base.endswith("__"):  # Python would make `self.__h` `self._Model__h`
        base += "__"
    return base + "_" if base in _RESERVED or base.endswith(_SUFFIXES) else base


@dataclass(frozen=True)
class UnitRef:
    """One level of the module tree above a node: a block instance, a repeat (the ModuleList) or one
    copy of a repeat. `key` identifies the unit in the spec's expansion, `name` is its attribute
    name in its parent (a copy's is its index), `label` the block it instantiates (for class names)."""

    key: str
    kind: str  # "block" | "group" | "copy"
    name: str
    label: str
    shares: str = ""  # a block instance that calls another's module (`share = NAME`): that unit's key
    shared: bool = False  # a group whose copies are one module (`* N shared`)


@dataclass
class _Unit:
    ref: UnitRef | None
    items: list = field(default_factory=list)  # node names and child units, in expansion order
    children: dict[str, _Unit] = field(default_factory=dict)

    def child(self, key: str, kind: str, label: str, shares: str = "", shared: bool = False) -> _Unit:
        if key not in self.children:
            self.children[key] = _Unit(UnitRef(key, kind, "", label, shares, shared))
            self.items.append(self.children[key])
        return self.children[key]


def assign_layout(model: ModelGraph) -> None:
    """Record on every node its `layout` (the units above it) and `local` (its attribute name)."""
    graph = model.graph
    order = sorted(graph.nodes, key=lambda n: graph.nodes[n].order)
    root = _Unit(None)
    for node in order:
        unit = root
        for scope in graph.nodes[node].scopes:
            if scope.kind == "block":
                unit = unit.child(scope.key, "block", scope.label, scope.shares)
            elif scope.kind == "repeat":
                group = unit.child(scope.key, "group", "", shared=scope.shared)
                unit = group.child(f"{scope.key}/{scope.index}", "copy", "")
        unit.items.append(node)
    _collapse(root)
    _name(root, graph, (), {})
    for node in order:  # where each node's module is; a node that shares uses its target's
        attrs = graph.nodes[node]
        attrs.path = ".".join([*(u.name for u in attrs.layout if u.name), attrs.local])
        # a node inside a unit that calls another unit's module: its class is the other's, modules and all
        attrs.unit_shared = any(u.shares or (u.kind != "group" and u.name == "") for u in attrs.layout)
    for node in order:
        if graph.nodes[node].shares is not None:
            graph.nodes[node].path = graph.nodes[graph.nodes[node].shares].path


def _collapse(unit: _Unit) -> None:
    """A copy that is exactly one block instance is that instance (`pre_ln.0`, not `pre_ln.0.pre_ln_1`)."""
    for i, item in enumerate(unit.items):
        if not isinstance(item, _Unit):
            continue
        _collapse(item)
        if item.ref.kind == "copy" and len(item.items) == 1 and isinstance(item.items[0], _Unit):
            inner = item.items[0]
            if inner.ref.kind == "block":
                unit.items[i] = _Unit(inner.ref, inner.items)


def _name(unit: _Unit, graph, chain: tuple[UnitRef, ...], template: dict[int, str]) -> None:
    """Name the unit's items: nodes by their last dotted part, block instances likewise, repeats by
    the block they repeat. `template` gives a repeat copy the names of the first copy's items (by
    position), so every copy is the same class with the same attribute names."""
    taken: set[str] = set()
    bases = [
        template.get(i) or (_unit_name(item) if isinstance(item, _Unit) else _identifier(item.rsplit(".", 1)[-1]))
        for i, item in enumerate(unit.items)
    ]
    groups = [b for b, item in zip(bases, unit.items) if isinstance(item, _Unit) and item.ref.kind == "group"]
    seen: dict[str, int] = {}
    for position, item in enumerate(unit.items):
        base = bases[position]
        if base in groups and groups.count(base) > 1 and position not in template:  # bottleneck_1, bottleneck_2
            seen[base] = seen.get(base, 0) + 1
            base = f"{base}_{seen[base]}"
        name = base
        while name in taken:
            name += "_"
        taken.add(name)
        if not isinstance(item, _Unit):
            graph.nodes[item].layout = chain
            graph.nodes[item].local = name
            continue
        item.ref = replace(item.ref, name=name)
        if item.ref.kind == "group":
            first: dict[int, str] = {}
            for index, copy in enumerate(item.items):
                # the copies of a shared repeat are one module, so no index in their path
                copy_name = "" if item.ref.shared else str(index)
                copy.ref = replace(copy.ref, name=copy_name, label=copy.ref.label or item.ref.label)
                same_shape = index and len(copy.items) == len(item.items[0].items)
                _name(copy, graph, chain + (item.ref, copy.ref), first if same_shape else {})
                if index == 0:
                    first = _item_names(copy, graph)
        else:
            _name(item, graph, chain + (item.ref,), {})


def _unit_name(unit: _Unit) -> str:
    if unit.ref.kind == "block":
        return _identifier(unit.ref.key.rsplit(".", 1)[-1])
    labels = {copy.ref.label for copy in unit.items if copy.ref.kind == "block"}
    if len(labels) == 1 and all(copy.ref.kind == "block" for copy in unit.items):
        unit.ref = replace(unit.ref, label=labels.pop())
        return _identifier(unit.ref.label)
    return "layers"


def _item_names(unit: _Unit, graph) -> dict[int, str]:
    """The attribute names of a named unit's items, by position."""
    return {
        position: item.ref.name if isinstance(item, _Unit) else graph.nodes[item].local
        for position, item in enumerate(unit.items)
    }


def module_path(attrs: Node) -> str:
    """Where a node's module lives in the generated module (`pre_ln.0.attention_1`); a node that
    shares another's weights gives that node's."""
    return attrs.path


def class_name(snake: str, fallback: str = "Model") -> str:
    """`snake` in CamelCase, a valid class name: `fallback` where it is empty or starts with a digit."""
    name = "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part) or fallback
    return name if name[0].isalpha() else fallback + name
