"""Running a partial model over a data split: the node's values, the labels where the data has
one per row, each attention stage's weights (averaged over examples) and each router's choices."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..blocks.moe import MixtureOfExperts
from ..compiler.api import CheckedModel
from ..compiler.attention_maps import attention_maps
from .errors import ProbeError


@dataclass
class Collected:
    """What one pass over a split gave. `attention` maps each attention stage to its weights summed
    over examples (heads, queries, keys), of `attention_count` examples; `rollout` likewise sums
    the attention rollout (queries, keys), when the stages allow one; `experts` counts, per router,
    the tokens (or examples) sent to each expert (every top-k choice counts)."""

    activations: np.ndarray  # (rows, *node shape): rows are examples, or graph nodes for graph values
    labels: np.ndarray | None
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    attention_count: dict[str, int] = field(default_factory=dict)
    rollout: torch.Tensor | None = None
    rollout_count: int = 0
    experts: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    example_attention: dict[str, torch.Tensor] = field(default_factory=dict)  # the split's first example's
    example_tokens: list[int] | None = None  # its token ids, when the model's first input is tokens
    input_tokens: np.ndarray | None = None  # (examples, seq): every example's token ids, likewise


def stages(module: nn.Module, checked: CheckedModel) -> dict[str, nn.Module]:
    """The (partial) model's stages by node name (`pre_ln_1.attention_1`)."""
    by_path = dict(module.named_modules())
    paths = {node: checked.module_path(node) for node in checked.graph}
    return {node: by_path[path] for node, path in paths.items() if path in by_path}


def collect(
    module: nn.Module, checked: CheckedModel, inputs: list[str], split, batch_size: int = 256, every_node: bool = False
) -> Collected:
    """Run `module` (the partial model, whose forward takes `inputs` in order) over every example of
    `split`. Labels are the split's classes, or the labels it keeps beside another target (the digits
    of a reconstruction task). A graph value gives the split's nodes only, or with `every_node` all of them."""
    nodes = {checked.module_path(node): node for node in checked.graph}
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    routers = {node: m for node, m in stages(module, checked).items() if isinstance(m, MixtureOfExperts)}
    counts = {node: torch.zeros(len(m.experts), dtype=torch.long) for node, m in routers.items()}
    hooks = [m.router.register_forward_hook(_counter(counts[node], m.top_k)) for node, m in routers.items()]
    values, labels, tokens, found = [], [], [], Collected(np.empty(0), None)
    try:
        with torch.no_grad():
            for start in range(0, len(split), batch_size):
                index = torch.arange(start, min(start + batch_size, len(split)))
                batch = split.batch(index)
                given = batch.to(device).inputs  # the rows and labels below stay on the CPU
                with attention_maps(module) as maps:
                    value = module(*[given[name] for name in inputs])
                # by node; an attention inside a `moe` expert is no node (and sees only its examples)
                maps = {nodes[path]: weights for path, weights in maps.items() if path in nodes}
                if not isinstance(value, torch.Tensor):
                    raise ProbeError(f"the node's value is a {type(value).__name__}, not a tensor")
                rows, label = _rows(value, batch, every_node)
                kept = getattr(split, "labels", None)
                if label is None and kept is not None and len(index) == len(rows):
                    label = kept[index]
                first = batch.inputs.get(inputs[0]) if inputs else None
                if isinstance(first, torch.Tensor) and not first.is_floating_point() and first.dim() == 2:
                    tokens.append(first.cpu())
                if start == 0:
                    _first_example(found, maps, batch, inputs)
                values.append(rows)
                labels.append(label)
                _add_attention(found, maps)
    finally:
        for hook in hooks:
            hook.remove()
    joined = torch.cat(values)
    found.activations = (joined.float() if joined.is_floating_point() else joined).numpy()
    found.labels = None if any(label is None for label in labels) else torch.cat(labels).numpy()
    found.experts = {node: c.tolist() for node, c in counts.items()}
    found.input_tokens = torch.cat(tokens).numpy() if tokens and len(tokens) == len(values) else None
    return found


def _counter(counts: torch.Tensor, top_k: int):
    def hook(_module, _inputs, logits):  # logits (items, experts): the router's choices are its top k
        counts.add_(torch.bincount(logits.topk(top_k, dim=-1).indices.flatten(), minlength=len(counts)).cpu())

    return hook


def _first_example(found: Collected, maps: dict, batch, inputs: list[str]) -> None:
    """Keep the first example's attention maps (and tokens), whose axes can be labelled token by token."""
    found.example_attention = {node: w.flatten(0, -4)[0].float().cpu() for node, w in maps.items() if w.dim() >= 4}
    first = batch.inputs.get(inputs[0]) if inputs else None
    if isinstance(first, torch.Tensor) and not first.is_floating_point() and first.dim() == 2:
        found.example_tokens = first[0].tolist()


def _rows(value: torch.Tensor, batch, every_node: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The node's value and the labels of its rows: a classification target with one entry per row
    (for node classification, the split's nodes only, unless `every_node`); None otherwise."""
    value, target = value.detach().cpu(), batch.target
    if target is None:  # rows of a file without targets
        return value, None
    if batch.mask is not None and len(batch.mask) == len(value) and not every_node:
        value, target = value[batch.mask], target[batch.mask]
    labelled = target.dim() == 1 and not target.is_floating_point() and len(target) == len(value)
    return value, (target.cpu() if labelled else None)


def _add_attention(found: Collected, maps: dict) -> None:
    """Sum this batch's maps into `found` (per head, over examples), and their rollout."""
    for node, weights in maps.items():
        lines = weights.flatten(0, -4).float()  # (examples, heads, queries, keys); axial lines count as examples
        if node in found.attention and found.attention[node].shape != lines.shape[1:]:
            _note(found, f"attention maps of {node}: the length changes between batches; the first length's are kept")
            continue
        found.attention[node] = found.attention.get(node, 0) + lines.sum(0).cpu()
        found.attention_count[node] = found.attention_count.get(node, 0) + len(lines)
    # rollout follows one sequence through every layer: only self-attention over one length qualifies
    square = [w for w in maps.values() if w.dim() == 4 and w.shape[-1] == w.shape[-2]]
    if not maps or len(square) != len(maps) or len({w.shape[-1] for w in square}) != 1:
        return
    rolled = rollout(square)
    if found.rollout is not None and found.rollout.shape != rolled.shape[1:]:
        return
    found.rollout = (0 if found.rollout is None else found.rollout) + rolled.sum(0).cpu()
    found.rollout_count += len(rolled)


def _note(found: Collected, note: str) -> None:
    if note not in found.notes:
        found.notes.append(note)


def rollout(layers: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): each layer's weights averaged over heads, the residual
    path added as ½(A + I), rows renormalised, multiplied from the first layer up. (B, T, T)."""
    result = None
    for weights in layers:  # (B, H, T, T), in the order the model runs them
        mixed = 0.5 * weights.float().mean(1) + 0.5 * torch.eye(weights.shape[-1], device=weights.device)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    return result
