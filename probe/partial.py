"""The partial model: the named node and everything it depends on, generated and built like the
whole model and given the trained weights of the stages it keeps — "build a partial model from the
top to the latent space we want, get the activation values".

    partial = partial_model(trained.checked, "pre_ln_1.attention_1", trained.module.state_dict())
    value = partial(image)     # what the whole model computes at that node, and no more
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import torch
from torch import nn

from ..compiler.api import CheckedModel
from ..compiler.codegen import generate_source, load_module_class
from ..compiler.expansion import ModelGraph
from ..dsl.errors import did_you_mean
from .errors import ProbeError


def resolve_node(checked: CheckedModel, name: str) -> str:
    """The graph node `name` names: a node as `cramnet summary` lists it (`pre_ln_1.attention_1`, `z`),
    a name bound in the model's body or an output's name (`feats`, bound to `basic_2.relu_2`), or the
    node's Python attribute (`pre_ln_1_attention_1`)."""
    graph, model = checked.graph, checked.model
    if name in graph:
        return name
    named = {**model.bound, **model.outputs}
    if name in named:
        return named[name]
    by_attr = {attrs["attr"]: node for node, attrs in graph.nodes(data=True)}
    if name in by_attr:
        return by_attr[name]
    candidates = set(graph.nodes) | set(named)
    raise ProbeError(
        f"model '{checked.name}' has no node named '{name}'",
        did_you_mean(name, candidates) or "`cramnet summary SPEC` lists the nodes",
    )


def partial_graph(checked: CheckedModel, node: str) -> ModelGraph:
    """The node and its ancestors (data and tied weights or states alike), with the node as the one output."""
    graph = checked.graph
    kept = nx.ancestors(graph, node) | {node}
    inputs = [i for i in checked.inputs if i in kept]
    return ModelGraph(checked.name, graph.subgraph(kept).copy(), inputs, {node: node}, checked.model.span)


def partial_model(checked: CheckedModel, node: str, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The generated module computing `node` from the inputs it needs (in declared order), in eval
    mode; `state` — the whole model's state dict — supplies the weights of the stages it keeps."""
    model = partial_graph(checked, node)
    source, custom = generate_source(model, Path(checked.path).name, standalone=False)
    module = load_module_class(source, custom, checked.name)()
    if state is not None:  # its modules sit where they sit in the whole model (naming.py)
        module.load_state_dict({key: state[key] for key in module.state_dict()}, strict=True)
    return module.eval()
