"""What a family mapping walks: the spec's nodes in order, grouped into layers by the module tree,
and the links it declares between spec tensors and checkpoint tensors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import TrainError

Tensors = Sequence[torch.Tensor]


def _same(tensors: Tensors) -> list[torch.Tensor]:
    return list(tensors)


@dataclass(frozen=True)
class Link:
    """Spec tensors made from checkpoint tensors (`load`) and back (`save`): one or more of each, so
    a fused checkpoint tensor (GPT-2's c_attn) can feed three spec tensors and be rebuilt from them."""

    node: str  # the spec node the tensors belong to (errors point at its call)
    spec: tuple[str, ...]  # state-dict keys of the generated module
    checkpoint: tuple[str, ...]  # tensor names in the checkpoint
    load: Callable[[Tensors], list[torch.Tensor]] = _same
    save: Callable[[Tensors], list[torch.Tensor]] = _same


def same(node: str, spec: str, checkpoint: str) -> Link:
    return Link(node, (spec,), (checkpoint,))


def transposed(node: str, spec: str, checkpoint: str) -> Link:
    """Hugging Face's Conv1D keeps a weight as [in, out], the transpose of nn.Linear's [out, in]."""
    return Link(node, (spec,), (checkpoint,), lambda ts: [ts[0].t()], lambda ts: [ts[0].t()])


def split(node: str, spec: Sequence[str], checkpoint: str, transpose: bool = False) -> Link:
    """One checkpoint tensor cut into equal parts along its first dimension (after transposing)."""
    parts = len(spec)

    def load(ts: Tensors) -> list[torch.Tensor]:
        whole = ts[0].t() if transpose else ts[0]
        return list(whole.chunk(parts, dim=0))

    def save(ts: Tensors) -> list[torch.Tensor]:
        whole = torch.cat(list(ts), dim=0)
        return [whole.t() if transpose else whole]

    return Link(node, tuple(spec), (checkpoint,), load, save)


class Structure:
    """A checked spec as a mapping sees it: its weighted nodes in order, their state-dict keys and
    shapes (from a module built on the `meta` device: no memory), and layers found from the module
    tree — the k-th copy of a repeat, or the k-th user-block instance, holding an anchor block."""

    def __init__(self, checked, expected: dict[str, torch.Size], config: dict | None = None):
        self.checked = checked
        self.config = config or {}  # the checkpoint's config.json, where it has one (a head tied or not)
        graph = checked.graph
        self.order = [n for n in sorted(graph.nodes, key=lambda n: graph.nodes[n].order)]
        self.expected = expected
        self.shape = "the family's reference spec (specs/, specs/reference/)"  # the checkpoint's, once known

    def attrs(self, node: str):
        """The node's record (`compiler/model_graph.py`'s `Node`)."""
        return self.checked.graph.nodes[node]

    def block(self, node: str) -> str:
        return self.attrs(node).block

    def key(self, node: str, name: str) -> str:
        """The state-dict key of a node's tensor `name` (`pre_ln.0.attention_1` + `q_proj.weight`)."""
        return f"{self.checked.module_path(node)}.{name}"

    def where(self, node: str) -> str:
        return f"'{node}' ({self.attrs(node).span})" if node in self.checked.graph else f"'{node}'"

    def layers(self, anchor: str) -> tuple[list[str], list[list[str]], list[str]]:
        """(nodes before the first layer, the layers, nodes after the last) — a layer being the unit
        of the module tree (a repeat's copy, or a block instance) around each `anchor` node."""
        units: list[tuple] = []
        for node in self.order:
            if self.block(node) == anchor:
                layout = self.attrs(node).layout
                if not layout:
                    raise TrainError(
                        f"{self.where(node)} is a {anchor} outside any block or repeat: the checkpoint's "
                        "layers map onto the spec's repeated layers",
                        "write the layers as a block repeated (`layer(…) * N`) as the reference specs do",
                    )
                depth = 2 if layout[0].kind == "group" and len(layout) > 1 else 1
                unit = tuple(u.key for u in layout[:depth])
                if unit not in units:
                    units.append(unit)
        if not units:
            raise TrainError(
                f"the spec has no {anchor} layers, and the checkpoint is made of them",
                f"load it into a spec laid out as in {self.shape} (docs/weights.md)",
            )
        members: list[list[str]] = [[] for _ in units]
        before, after = [], []
        for node in self.order:
            unit = tuple(u.key for u in self.attrs(node).layout)
            index = next((i for i, u in enumerate(units) if unit[: len(u)] == u), None)
            if index is not None:
                members[index].append(node)
            elif not any(members):
                before.append(node)
            else:
                after.append(node)
        return before, members, after

    def of(self, nodes: Sequence[str], block: str, count: int | None = None, what: str = "") -> list[str]:
        """The nodes of one block among `nodes`, in order; with `count`, exactly that many."""
        found = [n for n in nodes if self.block(n) == block]
        if count is not None and len(found) != count:
            place = self.where(nodes[0]) if nodes else "the spec"
            raise TrainError(
                f"{what or 'this part of the spec'} at {place} has {len(found)} {block} "
                f"call{'s' if len(found) != 1 else ''}; the checkpoint's layout needs {count}",
                f"write it as in {self.shape}",
            )
        return found

    def weighted(self, node: str) -> bool:
        prefix = self.checked.module_path(node) + "."
        return any(k.startswith(prefix) for k in self.expected)

    def untied_head(self, after: list[str], embed: str) -> str | None:
        """The dense after the last layer as wide as `embed`'s vocabulary with a weight of its own (a head
        tied to the token table has none), if any: written back under the family's head, the config untied."""
        vocab = self.attrs(embed).args.vocab
        heads = (n for n in self.of(after, "dense") if self.attrs(n).args.out == vocab)
        return next((n for n in heads if self.has(self.key(n, "weight"))), None)

    def has(self, key: str) -> bool:
        return key in self.expected

    def node_of(self, key: str) -> str | None:
        """The node whose module holds state-dict key `key`."""
        best = None
        for node in self.order:
            path = self.checked.module_path(node)
            if key.startswith(path + ".") and (best is None or len(path) > len(self.checked.module_path(best))):
                best = node
        return best


def pair(s: Structure, node: str, spec: str, name: str) -> list[Link]:
    """A layer's weight and bias: the spec's `node` (its submodule `spec`, or itself) and the checkpoint's `name`."""
    return [same(node, s.key(node, f"{spec}.{p}" if spec else p), f"{name}.{p}") for p in ("weight", "bias")]
