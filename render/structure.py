"""A checked model as a diagram: boxes, edges and nested clusters, before any drawing syntax.

Clusters come from the chain of scopes the compiler records on each node (`scopes`: user-block
instances, whose names are the node names' dotted prefixes, and the combinators `repeat`/`* N`,
`residual` and `parallel` with its branches); a block with bodies (`moe`) opens into a cluster of
its bodies' graphs. Big models stay readable: a repeat shows its first copy, marked `× N`, unless `expand`;
user blocks nested deeper than `depth` are drawn as one box each. Box ids are the graph's node
names, so a box in the picture is the row of `cramnet summary` and the name in an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx

from ..compiler.loader import STD_DIR
from ..compiler.model_graph import INPUT, GraphScope, ModelGraph
from .labels import call_text, params_text


@dataclass(frozen=True)
class Options:
    expand: bool = False  # draw every copy of a repeat, not the first marked `× N`
    depth: int | None = None  # user blocks nested deeper than this are one box each (0: every block)
    rankdir: str = "TB"


@dataclass
class Box:
    id: str
    title: str  # the node name, as in `cramnet summary`
    text: str  # the call with its key arguments, or `input [1, 8, 8]`
    family: str  # colour key: a block family, "input", "output" or "block"
    params: int = 0
    shape: str = ""  # output type
    where: str = ""  # `file:line:col` of the call that made it


@dataclass
class Arrow:
    """A drawn edge between two boxes (the graph's edges, and routing and output arrows)."""

    source: str
    target: str
    label: str = ""
    kind: str = "data"  # data | tie | share | route


@dataclass
class Cluster:
    id: str
    kind: str  # block | repeat | residual | parallel | branch | bodies | body
    label: str
    params: int = 0
    boxes: list[str] = field(default_factory=list)
    children: list[Cluster] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Diagram:
    name: str
    boxes: dict[str, Box]
    edges: list[Arrow]
    root: Cluster
    options: Options

    @property
    def families(self) -> list[str]:
        return sorted({b.family for b in self.boxes.values()} - {"input", "output"})


def build_diagram(model: ModelGraph, options: Options = Options()) -> Diagram:
    root = Cluster("root", "root", model.name)
    diagram = Diagram(model.name, {}, [], root, options)
    exits = _Layout(diagram, model.graph, "", root).run()
    for name, node in model.outputs.items():
        box = f"output/{name}"
        diagram.boxes[box] = Box(box, name, "output", "output", shape=str(model.graph.nodes[node].type))
        root.boxes.append(box)
        source = exits.get(node)
        if source:
            diagram.edges.append(Arrow(source, box, str(model.graph.nodes[node].type)))
    return diagram


READABLE_BOXES = 60  # about what a screen shows at a readable size
# boxes in the longest top-to-bottom chain: some 4,300 px as a PNG; a chain of 45 (Jamba open,
# 1,271 x 6,104 px) is a strip to scroll, not a picture. ResNet on digits (36) is the longest kept open
READABLE_RANKS = 36


def readable_depth(model: ModelGraph, options: Options = Options()) -> int | None:
    """The depth drawn when none is asked for: every block open (None) while the diagram stays within
    READABLE_BOXES boxes, else the deepest level that does — ResNet-50 (97 boxes open) draws one box per
    bottleneck instance at depth 0, 14 boxes."""
    levels = max((sum(s.kind == "block" for s in model.graph.nodes[n].scopes) for n in model.graph), default=0)
    for depth in (None, *range(levels - 1, -1, -1)):
        if _readable(build_diagram(model, replace(options, depth=depth))):
            return depth
    return 0


def _readable(diagram: Diagram) -> bool:
    """At most READABLE_BOXES boxes, and at most READABLE_RANKS in its longest chain of data edges."""
    if len(diagram.boxes) > READABLE_BOXES:
        return False
    flow = nx.DiGraph((e.source, e.target) for e in diagram.edges if e.kind in ("data", "route"))  # not ties
    # a cycle (none is known) has no longest chain: the count of boxes decides
    return not nx.is_directed_acyclic_graph(flow) or nx.dag_longest_path_length(flow) + 1 <= READABLE_RANKS


class _Layout:
    """Places one graph's nodes (the model's, or a body's inside the cluster of a block with bodies)."""

    def __init__(self, diagram: Diagram, graph: nx.DiGraph, prefix: str, parent: Cluster):
        self.diagram, self.graph, self.prefix, self.parent = diagram, graph, prefix, parent
        self.options = diagram.options
        self.clusters: dict[str, Cluster] = {}
        self.shown: dict[str, str | None] = {}  # node -> its box id, or None when hidden
        self.exits: dict[str, str] = {}  # node -> box that edges out of it leave from
        self.entry: str | None = None  # inside a block with bodies: its entry box (a router) that feeds this body
        self.leading: tuple = ()  # inside a token-routed block: the positions each body's tensors stand for

    def run(self) -> dict[str, str]:
        nodes = sorted(self.graph.nodes, key=lambda n: self.graph.nodes[n].order)
        for node in nodes:
            self.place(node)
        self.add_cluster_params(nodes)
        self.connect(nodes)
        return self.exits

    # -- boxes and clusters -------------------------------------------------------------------
    def place(self, node: str) -> None:
        attrs = self.graph.nodes[node]
        cluster, depth = self.parent, 0
        for scope in attrs.scopes:
            if scope.kind == "repeat" and scope.index > 1 and not self.options.expand:
                self.shown[node] = None
                return
            if scope.kind == "block":
                depth += 1
                if self.options.depth is not None and depth > self.options.depth:
                    self.shown[node] = self.instance_box(scope, cluster)
                    return
            cluster = self.cluster(scope, cluster)
        box = self.prefix + node
        self.shown[node] = box
        if attrs.block == INPUT:
            if self.prefix:  # a body's input is its entry (router): no box of its own
                self.shown[node] = None
                return
            text, family = f"input {attrs.type}", "input"
        else:
            text, family = call_text(attrs.block, attrs.spec, attrs.args), attrs.spec.family
        where = _where(attrs.span) if attrs.span else ""
        self.diagram.boxes[box] = Box(box, box, text, family, attrs.params, self.shape_text(node), where)
        cluster.boxes.append(box)
        self.exits[node] = box
        if attrs.spec is not None and attrs.spec.bodies is not None:
            self.open_bodies(node, box, cluster)

    def cluster(self, scope: GraphScope, parent: Cluster) -> Cluster:
        key = f"{scope.key}.{scope.index}" if scope.kind == "branch" else scope.key
        if key not in self.clusters:
            self.clusters[key] = Cluster(self.prefix + key, scope.kind, _scope_label(scope, self.options))
            parent.children.append(self.clusters[key])
        return self.clusters[key]

    def instance_box(self, scope: GraphScope, cluster: Cluster) -> str:
        box = self.prefix + scope.key
        if box not in self.diagram.boxes:
            self.diagram.boxes[box] = Box(box, box, scope.label, "block")
            cluster.boxes.append(box)
        return box

    def open_bodies(self, node: str, box: str, cluster: Cluster) -> None:
        """A block with bodies (a mixture of experts) becomes a cluster: its own box (the entry: a
        router), each distinct body graph, the box where their outputs meet (the exit: the mix) —
        labelled as the block declares."""
        attrs = self.graph.nodes[node]
        slot, args = attrs.spec.bodies, attrs.args
        inputs = [self.graph.nodes[i].type for i in attrs.inputs]
        bodies = args.bodies
        cluster.boxes.remove(box)
        outer = Cluster(box + ".bodies", "bodies", f"{box} · {slot.describe(inputs, args)}")
        outer.params = attrs.params
        cluster.children.append(outer)
        outer.boxes.append(box)
        self.diagram.boxes[box].text = slot.entry(inputs, args)
        mix = box + ".mix"
        self.diagram.boxes[mix] = Box(mix, "mix", slot.exit(inputs, args), attrs.spec.family, shape=str(attrs.type))
        outer.boxes.append(mix)
        for index, graph in enumerate(bodies.graphs):
            copies = bodies.copies.count(index)
            label = f"{slot.noun} {index + 1}" + (f" × {copies}" if copies > 1 else "")
            inner = Cluster(f"{box}.body{index + 1}", "body", label)
            outer.children.append(inner)
            layout = _Layout(self.diagram, graph.graph, f"{box}.body{index + 1}.", inner)
            layout.entry = box
            out_type = graph.graph.nodes[graph.outputs["y"]].type
            layout.leading = attrs.type.dims[: max(attrs.type.rank - out_type.rank, 0)] if out_type else ()
            exits = layout.run()
            inner.params = sum(graph.graph.nodes[n].params for n in graph.graph.nodes) * max(copies, 1)
            last = exits.get(graph.outputs["y"], box)  # a body that returns its input: entry to exit
            if last:
                self.diagram.edges.append(Arrow(last, mix, layout.shape_text(graph.outputs["y"])))
        self.diagram.boxes[box].params = outer.params - sum(
            inner.params for inner in outer.children
        )  # the entry's own (the router's)
        self.exits[node] = mix

    def add_cluster_params(self, nodes: list[str]) -> None:
        for node in nodes:
            params = self.graph.nodes[node].params
            if not params:
                continue
            for scope in self.graph.nodes[node].scopes:
                key = f"{scope.key}.{scope.index}" if scope.kind == "branch" else scope.key
                if key in self.clusters:
                    self.clusters[key].params += params
                elif scope.kind == "block" and self.prefix + scope.key in self.diagram.boxes:
                    self.diagram.boxes[self.prefix + scope.key].params += params

    # -- edges --------------------------------------------------------------------------------
    def connect(self, nodes: list[str]) -> None:
        stand_in = self.stand_ins(nodes)
        seen = set()
        for source, target, data in self.graph.edges(data=True):
            if data.kind == "batch":  # a learned tensor reads only the batch size of the model's input
                continue
            head = self.shown.get(target)
            if head is None:
                continue  # into a hidden copy: the first copy shows the same edge
            tail = self.exit_of(source, stand_in)
            if tail is None or tail == head:
                continue
            kind = data.kind
            key = (tail, head, kind)
            if key in seen:
                continue
            seen.add(key)
            label = {"tie": "tied", "share": "shared"}.get(kind) or self.shape_text(source)
            self.diagram.edges.append(Arrow(tail, head, label, kind))
        if self.prefix:  # inside a body: the entry (router) feeds its first stages
            for node in nodes:
                if self.graph.nodes[node].block == INPUT:
                    for successor in self.graph.successors(node):
                        if self.shown.get(successor):
                            self.diagram.edges.append(Arrow(self.entry, self.shown[successor], "", "route"))
        for node in nodes:  # outputs inside a hidden copy or a one-box block leave from its stand-in
            tail = self.exit_of(node, stand_in)
            if tail:
                self.exits.setdefault(node, tail)

    def shape_text(self, node: str) -> str:
        """A node's output type as edges show it; a token-routed body's tensors read with their positions."""
        found = self.graph.nodes[node].type
        if found is None:
            return ""
        return str(replace(found, dims=tuple(self.leading) + tuple(found.dims)) if self.leading else found)

    def stand_ins(self, nodes: list[str]) -> dict[str, str]:
        """For each collapsed repeat, the last box of its first copy: edges out of hidden copies leave from it."""
        found: dict[str, tuple[int, str]] = {}
        for node in nodes:
            # a node drawn inside a one-box block instance leaves from that box
            box = self.exits.get(node, self.shown[node]) if self.shown.get(node) else None
            if box is None:
                continue
            order = self.graph.nodes[node].order
            for scope in self.graph.nodes[node].scopes:
                if scope.kind == "repeat" and scope.index == 1 and order >= found.get(scope.key, (-1, ""))[0]:
                    found[scope.key] = (order, box)
        return {key: box for key, (_, box) in found.items()}

    def exit_of(self, node: str, stand_in: dict[str, str]) -> str | None:
        if self.shown.get(node):
            return self.exits.get(node, self.shown[node])
        return self.hidden_source(node, stand_in)

    def hidden_source(self, node: str, stand_in: dict[str, str]) -> str | None:
        for scope in self.graph.nodes[node].scopes:
            if scope.kind == "repeat" and scope.index > 1:
                return stand_in.get(scope.key)
        return None


def _scope_label(scope: GraphScope, options: Options) -> str:
    if scope.kind == "block":
        return f"{scope.key} · {scope.label}"
    if scope.kind == "repeat":
        return f"× {scope.count}" + ("" if options.expand else " (first copy shown)")
    if scope.kind == "parallel":
        return f"parallel · {scope.label}"
    if scope.kind == "branch":
        return f"branch {scope.index}"
    return scope.kind


def cluster_caption(cluster: Cluster) -> str:
    """The label drawn on a cluster: what it is, and its parameters (all copies of a repeat)."""
    return f"{cluster.label} · {params_text(cluster.params)}" if cluster.params else cluster.label


def _where(span) -> str:
    """`file:line:col` of a call; a standard-library file as `std:NAME`, not the path it is installed at."""
    path = Path(span.file)
    shown = f"std:{path.stem}" if path.parent == STD_DIR else span.file
    return f"{shown}:{span.line}:{span.col}"
