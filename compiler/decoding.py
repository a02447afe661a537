"""Whether a model can continue a sequence a few tokens at a time (blocks/decoding.py): every call must
declare `decodes` — it computes a position from that position and earlier ones, with a cache where
it looks back. (A block with bodies answers for them: a token-routed `moe` sends its bodies one
position at a time.)"""

from __future__ import annotations

from .model_graph import INPUT, ModelGraph, Node


def step_blocker(model: ModelGraph) -> Node | None:
    """The first call, in reading order, that has no step-by-step form; None when every call has one."""
    graph = model.graph
    for name in sorted(graph.nodes, key=lambda n: graph.nodes[n].order):
        node = graph.nodes[name]
        rule = node.spec.decodes if node.block != INPUT else True
        if not (rule([graph.nodes[i].type for i in node.inputs], node.args) if callable(rule) else rule):
            return node
    return None
