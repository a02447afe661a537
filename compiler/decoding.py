"""Whether a model can continue one of its token inputs a few tokens at a time (blocks/decoding.py).

The calls that read that input, directly or not, are the stepped ones; each must declare `decodes`
(it computes a position from that position and earlier ones, with a cache where it looks back), and
a stepped call other than a merge reads its first input position by position, so its other inputs
must be whole: cross-attention's memory comes from the encoder, not from the sequence being decoded.
Calls that do not read the decoded input (an encoder) see the same values at every step. (A block
with bodies answers for them: a token-routed `moe` sends its bodies one position at a time.)

A next token's scores need only the last position of the output: `position_wise_tail` finds the calls
(the final norm and the head) that can run on it alone.
"""

from __future__ import annotations

import networkx as nx

from .model_graph import ModelGraph, Node


def stepped_calls(model: ModelGraph, decoded: str) -> set[str]:
    """The calls that read the input `decoded`, directly or through others."""
    return nx.descendants(model.graph, decoded)


def step_blocker(model: ModelGraph, decoded: str | None = None) -> Node | None:
    """The first stepped call, in reading order, without a step-by-step form (None when every one has
    it); `decoded` is the input continued, by default the first."""
    graph, decoded = model.graph, decoded or model.inputs[0]
    stepped = stepped_calls(model, decoded)
    for name in sorted(stepped, key=lambda n: graph.nodes[n].order):
        node = graph.nodes[name]
        rule = node.spec.decodes
        whole = node.spec.merge or not any(i in stepped or i == decoded for i in node.inputs[1:])
        if not whole or not (rule([graph.nodes[i].type for i in node.inputs], node.args) if callable(rule) else rule):
            return node
    return None


def position_wise_tail(model: ModelGraph, output: str) -> list[str]:
    """The calls that end at the node of `output`, in reading order, each reading one value [seq, …]
    (no mask) position by position (`decodes`) and feeding only the next — a language model's final
    norm and head. Run on the last position of the first one's input, they compute the output's last
    position. Calls that look back (attention, positions) declare `decodes` as well: the caller leaves
    out those whose modules keep a `decoding` (blocks/decoding.py)."""
    graph, name, feeds = model.graph, model.outputs[output], 0
    sequence = graph.nodes[name].type.dims[0]
    tail = []
    while not graph.nodes[name].is_input and graph.out_degree(name) == feeds:
        node = graph.nodes[name]
        inputs = [graph.nodes[i].type for i in node.inputs]
        rule = node.spec.decodes
        if len(inputs) != 1 or node.spec.masked or inputs[0].dims[:1] != (sequence,):
            break
        if not (rule(inputs, node.args) if callable(rule) else rule):
            break
        tail.append(name)
        name, feeds = node.inputs[0], 1
    return tail[::-1]
