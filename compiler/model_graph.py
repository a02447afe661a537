"""The compiler's intermediate representation: the expanded model as a graph of typed records.

`ModelGraph.graph` is a networkx `DiGraph` (`NodeGraph`) whose node data is a `Node` and whose edge
data is an `Edge`, so the passes read `graph.nodes[name].type`, not string keys, and a misspelt
field is an error where it is written. Each pass fills its own fields:

- expansion (`build_graph.py` and the builder's parts): block, spec, args, inputs, labels, span,
  order, scopes; `shares`/`share_span` (sharing.py) and `freeze` (calls.py);
- shape inference (`infer_shapes.py`): type, params, flops, and the arguments with their defaults;
- naming (`naming.py`): attr (a flat forward's variable), layout and local (where the node's module
  sits in the generated module tree), path and unit_shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import networkx as nx

from ..dsl.errors import Span, SpecError

if TYPE_CHECKING:
    from ..blocks.registry import BlockSpec
    from ..blocks.tensor_type import TensorType
    from .naming import UnitRef

FAILED = "<failed>"  # the value of an expression that failed (reported where it failed)
INPUT = "input"  # the `block` of a model input


@dataclass(frozen=True)
class GraphScope:
    """One level of the structure a node was made in: a user-block instance (`key` is its name
    prefix, e.g. `basic_2`) or a combinator (`repeat`, `residual`, `parallel`, `branch`). `index`
    is the copy (of a repeat) or the branch (of a parallel) counting from 1; `count` a repeat's N.
    Diagrams and `summary --tree` read the chain of these on each node (`scopes`, outermost first)."""

    kind: str
    key: str
    label: str = ""
    index: int = 0
    count: int = 0
    shared: bool = False  # a repeat whose copies all use the first copy's weights (`* N shared`)
    shares: str = ""  # a block instance that uses another instance's weights (`share = NAME`): its key
    call: Span | None = field(default=None, compare=False)  # a block instance's call, for error notes


class _Record:
    """networkx keeps a node's or edge's data in an object it makes empty and then `update`s: these
    records take only their own fields (a misspelt one is an error, not a new key)."""

    def update(self, values: Mapping[str, Any] | _Record = (), **more: Any) -> None:
        items = dict(vars(values) if isinstance(values, _Record) else values, **more)
        known = _field_names(type(self))
        for key, value in items.items():
            if key not in known:
                raise TypeError(f"{type(self).__name__} has no field '{key}'")
            setattr(self, key, value)


@cache  # `update` runs for every node and edge the graph gets: read each record's fields once
def _field_names(record: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(record))


@dataclass(eq=False)
class Node(_Record):
    """One node of the expanded model: a block call, or a model input (`block == INPUT`)."""

    block: str = ""
    spec: BlockSpec | None = None  # None for an input
    args: SimpleNamespace | None = None  # bound arguments; after shape inference, with defaults resolved
    inputs: list[str] = field(default_factory=list)  # the nodes it reads, in argument order
    labels: list[str] = field(default_factory=list)  # what each input is, for messages ("its input")
    span: Span | None = None
    order: int = 0  # creation order: the spec's reading order
    scopes: tuple[GraphScope, ...] = ()  # the structure it was made in, outermost first
    freeze: bool = False  # `freeze = true` on its call: its parameters are not trained
    shares: str | None = None  # the node whose module it calls (`share = NAME`, `* N shared`)
    share_span: Span | None = None
    # shape inference
    type: TensorType | None = None
    params: Any = 0  # int, or a polynomial in the spec's symbolic sizes
    flops: Any = 0
    # naming
    attr: str = ""  # its variable in a flat forward
    layout: tuple[UnitRef, ...] = ()  # the module-tree units above it, outermost first
    local: str = ""  # its attribute name in its unit
    path: str = ""  # its module's dotted path in the generated model (its target's when it shares)
    unit_shared: bool = False  # inside a unit that calls another unit's module

    @property
    def is_input(self) -> bool:
        return self.block == INPUT

    def copy(self) -> Node:
        return replace(self, inputs=list(self.inputs), labels=list(self.labels))


@dataclass(eq=False)
class Edge(_Record):
    """An edge: a value read as the `index`-th input (`data`), a weight tied to another node's
    (`tie`), another node's module called again (`share`), the batch size a source block takes
    from the first input (`batch`, not drawn)."""

    kind: str = "data"
    index: int = 0


class NodeGraph(nx.DiGraph):
    """A `DiGraph` whose node data are `Node`s and edge data `Edge`s: networkx's algorithms work on
    it as on any graph; a node's data is read by field (`graph.nodes[name].type`), not by key, so
    `nodes(data="type")` does not apply (`(n, d.type) for n, d in graph.nodes(data=True)` does)."""

    node_attr_dict_factory = Node
    edge_attr_dict_factory = Edge

    def put(self, name: str, node: Node) -> None:
        """Add (or replace) the node `name` with the record `node`."""
        self.add_node(name)
        self._node[name] = node

    def copy(self, as_view: bool = False) -> NodeGraph:
        """A copy with copied records (also what `graph.subgraph(nodes).copy()` makes)."""
        return nx.graphviews.generic_graph_view(self) if as_view else self.part(self.nodes)

    def part(self, kept) -> NodeGraph:
        """A new graph of the nodes in `kept` (copied) and the edges between them."""
        kept = set(kept)
        part = NodeGraph()
        for name in sorted(kept, key=lambda n: self.nodes[n].order):
            part.put(name, self.nodes[name].copy())
        for source, target, edge in self.edges(data=True):
            if source in kept and target in kept:
                part.add_edge(source, target, kind=edge.kind, index=edge.index)
        return part


@dataclass
class ModelGraph:
    """The expanded model: the graph, its input and output node names, and its declaration."""

    name: str
    graph: NodeGraph
    inputs: list[str]
    outputs: dict[str, str]  # output name -> node, in `output` order
    span: Span
    errors: list[SpecError] = field(default_factory=list)
    bound: dict[str, str] = field(default_factory=dict)  # the model body's names (inputs, `as`, `=`) -> node


def called_from(error: SpecError, call: Span, block: str) -> SpecError:
    """`error`, found in a block's body, with a note on the call it was expanded for: for mistakes of
    values, shapes and sharing (E3xx, E4xx, E23x), which the call's arguments may cause; a misspelt
    name or a misplaced `output` in the body is wrong whichever call expands it."""
    if not error.code.startswith(("E3", "E4", "E23")):
        return error
    if error.span is not None and call.holds(error.span):  # at the call itself (an argument): the caret is there
        return error
    return replace(error, notes=(*error.notes, (call, f"in this call of '{block}'")))
