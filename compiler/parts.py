"""Parts of a model, for probes and `TrainedRun.after`: the partial model up to a node — the node and
everything it depends on, generated and built like the whole model and given the trained weights of
the stages it keeps ("build a partial model from the top to the latent space we want, get the
activation values") — and the part after a node, whose input is the node's value.

    partial = partial_model(trained.checked, "pre_ln_1.attention_1", trained.module.state_dict())
    value = partial(image)     # what the whole model computes at that node, and no more
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import torch
from torch import nn

from ..dsl.errors import did_you_mean
from ..errors import ProbeError
from .api import CheckedModel
from .codegen import generate_source, load_module_class
from .model_graph import INPUT, ModelGraph
from .naming import assign_layout


def resolve_node(checked: CheckedModel, name: str) -> str:
    """The graph node `name` names: a node as `cramnet summary` lists it (`pre_ln_1.attention_1`, `z`),
    a name bound in the model's body or an output's name (`feats`, bound to `basic_2.relu_2`), the
    node's Python attribute (`pre_ln_1_attention_1`) or its module path, as checkpoint keys name it
    (`pre_ln.0.attention_1`)."""
    graph, model = checked.graph, checked.model
    if name in graph:
        return name
    named = {**model.bound, **model.outputs}
    if name in named:
        return named[name]
    by_attr = {attrs.attr: node for node, attrs in graph.nodes(data=True)}
    if name in by_attr:
        return by_attr[name]
    by_path = {attrs.path: node for node, attrs in graph.nodes(data=True) if attrs.shares is None and attrs.path}
    if name in by_path:
        return by_path[name]
    candidates = set(graph.nodes) | set(named) | set(by_path)  # `pre_ln.1.attention` → pre_ln.1.attention_1
    raise ProbeError(
        f"model '{checked.name}' has no node named '{name}'",
        did_you_mean(name, candidates) or "`cramnet summary SPEC` lists the nodes",
    )


def partial_graph(checked: CheckedModel, node: str) -> ModelGraph:
    """The node and its ancestors (data and tied weights or states alike), with the node as the one output."""
    graph = checked.graph
    kept = nx.ancestors(graph, node) | {node}
    inputs = [i for i in checked.inputs if i in kept]
    return ModelGraph(checked.name, graph.part(kept), inputs, {node: node}, checked.model.span)


def partial_model(checked: CheckedModel, node: str, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The generated module computing `node` from the inputs it needs (in declared order), in eval
    mode; `state` — the whole model's state dict — supplies the weights of the stages it keeps."""
    return _built(partial_graph(checked, node), checked, state)


def after_graph(checked: CheckedModel, node: str) -> ModelGraph:
    """The node's descendants, with the node's value as the one input (of the node's type) and the
    model's outputs computed from it. Refused when a descendant also reads a value (or uses the
    weights of a stage) that is not downstream of the node: a skip connection around it, say."""
    graph = checked.graph
    later = nx.descendants(graph, node)
    outputs = {name: out for name, out in checked.model.outputs.items() if out in later}
    if not outputs:
        raise ProbeError(
            f"no output of model '{checked.name}' is computed from {node}",
            "name a node the outputs depend on (`cramnet render SPEC` shows the graph)",
        )
    kept = later | {node}
    needed = [(s, t, edge.kind) for s, t, edge in graph.in_edges(later, data=True) if s not in kept]
    # the node's value arrives as an input, without the node's module: a later stage may not use its weights
    needed += [(node, t, edge.kind) for _, t, edge in graph.out_edges(node, data=True) if edge.kind in ("tie", "share")]
    if needed:
        source, target, kind = needed[0]
        reads = "reads" if kind == "data" else "uses the weights of"
        more = f" (and {len(needed) - 1} more such value{'s' * (len(needed) > 2)})" if len(needed) > 1 else ""
        raise ProbeError(
            f"the part of model '{checked.name}' after {node} needs more than {node}: {target} {reads} {source}{more}",
            "pick a node every later stage depends on alone, as a decoder depends on an autoencoder's latent",
        )
    part = graph.part(kept)
    old = part.nodes[node]
    # the node's value arrives as an input: no module, no enclosing block, its identifier as its name
    part.remove_node(node)
    part.add_node(node, type=old.type, span=old.span, order=old.order, attr=old.attr, block=INPUT)
    part.add_edges_from((node, t, data) for _, t, data in graph.out_edges(node, data=True) if t in later)
    # a repeat may keep only its last copies, so the module tree is laid out afresh (they count from 0 again)
    for name in later:
        part.nodes[name].update(layout=(), local="", path="", unit_shared=False)
    after = ModelGraph(checked.name, part, [node], outputs, checked.model.span)
    assign_layout(after)
    return after


def after_model(checked: CheckedModel, node: str, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The generated module computing the model's outputs from `node`'s value (its one argument), in
    eval mode; `state` — the whole model's state dict — supplies the weights of its stages."""
    model = after_graph(checked, node)
    # each stage's weights come from where its node's module sits in the whole model
    paths = {model.graph.nodes[n].path: checked.module_path(n) for n in model.graph if n != node}
    return _built(model, checked, state, lambda key: _renamed(key, paths))


def _renamed(key: str, paths: dict[str, str]) -> str:
    """`key` with its module path (the longest that is a node's) replaced by that node's path in the whole model."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in paths:
            return ".".join([paths[prefix], *parts[cut:]])
    return key


def _built(model: ModelGraph, checked: CheckedModel, state: dict[str, torch.Tensor] | None, rename=None) -> nn.Module:
    module = load_module_class(generate_source(model, Path(checked.path).name, standalone=False), checked.name)()
    if state is not None:  # its modules sit where they sit in the whole model (naming.py), or `rename` says where
        rename = rename or (lambda key: key)
        module.load_state_dict({key: state[rename(key)] for key in module.state_dict()}, strict=True)
    return module.eval()
