"""Loading a checkpoint into a spec's module, strictly: every spec tensor is loaded or new, every
checkpoint tensor used or reported unused, and a name or shape that does not fit is an error that
names the spec node (file:line:col), the checkpoint tensor and both shapes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import TrainError
from . import bert, gpt2, llama, mamba, pyg, t5, vit
from .checkpoint import Checkpoint, open_checkpoint
from .structure import Link, Structure

FAMILIES = (gpt2, bert, llama, mamba, vit, t5)  # Hugging Face model types; PyG state dicts are told by their keys
_FAMILY_NAMES = ", ".join(f.NAME for f in FAMILIES)


@dataclass
class WeightsPlan:
    """Where every tensor goes, checked against shapes only (nothing read yet)."""

    checkpoint: Checkpoint
    family: str  # gpt2, bert, llama, mamba, vit, pyg, or cramnet (a run's own layout)
    links: list[Link]
    loaded: list[str]  # spec keys the checkpoint fills
    new: list[str]  # spec keys left as initialised
    unused: list[str]  # checkpoint tensors nothing reads
    notes: list[str] = field(default_factory=list)  # config values the spec does not share (ε, GELU form)


@dataclass
class WeightsReport:
    """What `load_weights` did; `table()` shows it with rich."""

    path: Path
    family: str
    loaded: list[str]
    new: list[str]
    unused: list[str]
    notes: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)

    def table(self):
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"weights from {self.path} ({self.family})", title_justify="left")
        table.add_column("", style="bold")
        table.add_column("tensors", justify="right")
        table.add_column("which")
        for label, keys, style in (
            ("loaded", self.loaded, "green"),
            ("new (initialised)", self.new, "yellow"),
            ("unused in the checkpoint", self.unused, "red"),
        ):
            table.add_row(Text(label, style=style), str(len(keys)), _shown(keys))
        if self.notes:
            table.caption = "\n".join(f"note: {note}" for note in self.notes)
            table.caption_justify = "left"
        return table


def _shown(keys: list[str], limit: int = 4) -> str:
    if not keys:
        return "—"
    return ", ".join(keys[:limit]) + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def _family(checkpoint: Checkpoint):
    """The family by config.json's model_type, else by the tensors' names; (module, base prefix)."""
    names = checkpoint.shapes
    if checkpoint.kind == "run":
        return None, "model."
    model_type = (checkpoint.config or {}).get("model_type")
    candidates = [f for f in FAMILIES if model_type in f.MODEL_TYPES] if model_type else list(FAMILIES)
    if model_type and not candidates:
        raise TrainError(
            f"{checkpoint.path}: model_type '{model_type}' has no mapping in cramnet",
            f"mapped families: {_FAMILY_NAMES} (Hugging Face) and PyG's GCN, GAT, GIN and Cheb convolutions",
        )
    for family in candidates:
        for base in family.BASES:
            if base + family.MARK in names:
                return family, base
    if not model_type and pyg.matches(names):
        return pyg, ""
    if model_type:
        raise TrainError(
            f"{checkpoint.path}: a '{model_type}' config, but no {candidates[0].MARK} tensor in the weights"
        )
    raise TrainError(
        f"{checkpoint.path}: cannot tell which model these weights are for (no config.json, and no tensor "
        "names of a mapped family)",
        f"mapped: {_FAMILY_NAMES} (as save_pretrained writes them), PyG convolutions, cramnet runs",
    )


def _run_links(s: Structure, names: dict, base: str) -> list[Link]:
    """A cramnet checkpoint is already in the spec's layout: `model.<state-dict key>`; what the run
    lacks (a head of this spec's own) is new."""
    return [Link(s.node_of(key) or key, (key,), (base + key,)) for key in s.expected if base + key in names]


def plan_weights(checked, path: str | Path, expected: dict[str, torch.Size] | None = None) -> WeightsPlan:
    """Map the checkpoint at `path` onto a checked spec and check every name and shape."""
    checkpoint = open_checkpoint(path)
    if expected is None:
        with torch.device("meta"):
            expected = {k: v.shape for k, v in checked.build().state_dict().items()}
    s = Structure(checked, expected, checkpoint.config)
    family, base = _family(checkpoint)
    if hasattr(family, "check_config"):  # a config the mapping cannot carry out (llama's θ, T5 1.1's FFN)
        family.check_config(checkpoint.config)
    if family is None:
        links = _run_links(s, checkpoint.shapes, base)
    else:
        s.shape = getattr(family, "SPEC", s.shape)
        try:
            links = family.links(s, checkpoint.shapes, base)
        except TrainError as error:  # the spec's layout is not the checkpoint's: say which family that is
            what = "a PyG state dict" if family is pyg else f"a Hugging Face {family.NAME} checkpoint"
            raise TrainError(f"{checkpoint.path} is {what}: {error}", error.hint) from None
    loaded: dict[str, str] = {}
    used: set[str] = set()
    for link in links:
        for name in link.checkpoint:
            if name not in checkpoint.shapes:
                raise TrainError(
                    f"{s.where(link.node)} needs the checkpoint tensor '{name}', which {checkpoint.path} lacks",
                    "the spec has more layers (or other parts) than the checkpoint: match its shape",
                )
        made = link.load([checkpoint.meta(name) for name in link.checkpoint])
        source = " + ".join(f"'{n}' {list(checkpoint.shapes[n])}" for n in link.checkpoint)
        for key, tensor in zip(link.spec, made):
            if key not in expected:
                raise TrainError(
                    f"{s.where(link.node)} has no tensor '{key}' for the checkpoint's {source}",
                    "the call's arguments differ from the checkpoint's layer (a bias, a norm, a kind of block)",
                )
            if tuple(tensor.shape) != tuple(expected[key]):
                raise TrainError(
                    f"{s.where(link.node)}: '{key}' is {list(expected[key])} in the spec but the checkpoint's "
                    f"{source} gives {list(tensor.shape)}",
                    "make the spec's widths, heads and vocabulary those of the checkpoint's config",
                )
            if key in loaded:  # two checkpoint tensors for one spec tensor: the spec shares a module
                raise TrainError(
                    f"{s.where(link.node)} uses the weights of {s.where(loaded[key])} (share, or a shared repeat), "
                    f"but the checkpoint has tensors of its own for it ({source})",
                    "give each of the checkpoint's layers its own call: drop `share =` / `shared`",
                )
            loaded[key] = link.node
        used.update(link.checkpoint)
    new = [k for k in expected if k not in loaded]
    unused = [n for n in checkpoint.shapes if n not in used]
    if family is None:
        unused = [n for n in unused if n.startswith(base)]  # optimizer and rng state belong to the run
    if not loaded and expected:  # nothing fits: training on would start from random weights, unannounced
        model = _run_model(checkpoint)
        if model is not None and model != checked.name:
            raise TrainError(
                f"{path} is a run of model '{model}': none of its {len(checkpoint.shapes):,} tensors fits "
                f"model '{checked.name}'",
                "start from a run of this spec (or of one whose nodes have the same names and shapes)",
            )
        raise TrainError(
            f"{path}: none of its {len(checkpoint.shapes):,} tensors fits model '{checked.name}'",
            "load a checkpoint of the same architecture (a run saved by cramnet 0.1: resume it once with "
            "--resume, which writes its weights in today's layout)",
        )
    notes = _notes(family, s, checkpoint.config) if family is not None and checkpoint.config else []
    return WeightsPlan(checkpoint, family.NAME if family else "cramnet", links, list(loaded), new, unused, notes)


def _run_model(checkpoint: Checkpoint) -> str | None:
    """The model a run directory was trained from (its run.json), if the checkpoint is one."""
    from .checkpoint import _json_object

    info = checkpoint.path / "run.json"
    if checkpoint.kind != "run" or not info.is_file():
        return None
    try:
        model = _json_object(info, "a run's record").get("model")
    except TrainError:
        return None
    return model if isinstance(model, str) else None


def _notes(family, s: Structure, config: dict) -> list[str]:
    """Where the spec computes differently from the checkpoint's config: told, not refused (the
    weights fit; a different ε or GELU form changes outputs a little)."""
    notes = family.notes(s, config) if hasattr(family, "notes") else []
    key, block = getattr(family, "EPS", (None, None))
    if key in config:
        off = [n for n in s.order if s.block(n) == block and float(s.attrs(n).args.eps) != float(config[key])]
        if off:
            eps = s.attrs(off[0]).args.eps
            notes.append(f"the checkpoint's {block} ε is {config[key]}, {s.where(off[0])} has {eps}")
    return notes


def _owner(module: nn.Module, key: str) -> tuple[nn.Module, str]:
    path, _, name = key.rpartition(".")
    return (module.get_submodule(path) if path else module), name


def load_weights(module: nn.Module, checked, path: str | Path, plan: WeightsPlan | None = None) -> WeightsReport:
    """Load the checkpoint at `path` into `module` (built from `checked`), in place. A module built on
    the `meta` device gets the checkpoint's tensors as its own (cast to float32 where they are bf16 or
    fp16), so no second full copy is ever held; its new tensors are then initialised. `plan`, where the
    caller made it for this module's state, saves opening and matching the checkpoint again."""
    state = module.state_dict(keep_vars=True)
    plan = plan or plan_weights(checked, path, {k: v.shape for k, v in state.items()})
    with torch.no_grad():
        for key, tensor in read_tensors(plan):
            target = state[key]
            if target.is_meta:
                value = tensor.to(target.dtype).contiguous()
                owner, name = _owner(module, key)
                if isinstance(target, nn.Parameter):
                    setattr(owner, name, nn.Parameter(value, requires_grad=target.requires_grad))
                else:
                    owner._buffers[name] = value
            else:
                target.copy_(tensor)
    _materialize(module)
    return report_of(plan, path)


def report_of(plan: WeightsPlan, path: str | Path) -> WeightsReport:
    dtypes = sorted({plan.checkpoint.dtypes[n] for link in plan.links for n in link.checkpoint})
    return WeightsReport(Path(path), plan.family, plan.loaded, plan.new, plan.unused, plan.notes, dtypes)


def read_tensors(plan: WeightsPlan) -> Iterator[tuple[str, torch.Tensor]]:
    """(spec key, tensor) for every tensor the plan loads, read one link at a time from the
    memory-mapped files; each file is unmapped once its last tensor is read."""
    checkpoint = plan.checkpoint
    remaining: dict[Path, int] = {}  # links still to read from each file, to unmap it when done
    for link in plan.links:
        for name in link.checkpoint:
            remaining[checkpoint.files[name]] = remaining.get(checkpoint.files[name], 0) + 1
    for link in plan.links:
        made = link.load([checkpoint.get(name) for name in link.checkpoint])
        yield from zip(link.spec, made)
        del made
        for name in link.checkpoint:
            file = checkpoint.files[name]
            remaining[file] -= 1
            if not remaining[file]:
                checkpoint.release(file)


def _materialize(module: nn.Module) -> None:
    """Give the modules still on `meta` (the spec's new parts) real, initialised tensors."""
    for name, child in module.named_modules():
        own = list(child.parameters(recurse=False)) + list(child.buffers(recurse=False))
        if not any(t.is_meta for t in own):
            continue
        if not hasattr(child, "reset_parameters"):
            raise TrainError(
                f"'{name}' is new (not in the checkpoint) and cannot be initialised after a meta-device build",
                "build the module on the CPU before loading (compile_spec(…, weights=PATH, meta=False))",
            )
        child.to_empty(device="cpu", recurse=False)
        child.reset_parameters()


def freeze(module: nn.Module, checked, nodes: list[str]) -> list[str]:
    """Stop gradients to the parameters of these nodes (names as `summary` shows them, a block
    instance such as `pre_ln_1` — every node named `pre_ln_1.…` — or module paths such as
    `pre_ln.0`); the frozen parameters' keys."""
    paths = {}
    for node in checked.graph.nodes:
        if checked.graph.nodes[node].path:
            paths[node] = checked.module_path(node)
    frozen = []
    for wanted in nodes:
        if wanted in paths:
            prefixes = [paths[wanted]]
        else:  # a block instance names the nodes inside it; anything else is a module path
            prefixes = [path for node, path in paths.items() if node.startswith(wanted + ".")] or [wanted]
        if any(c in wanted for c in "*?["):  # a pattern over module paths: '*.relative_bias' is every such table
            hits = [(k, p) for k, p in module.named_parameters() if _matches(k, wanted)]
        else:
            hits = [(k, p) for k, p in module.named_parameters() if any(_inside(k, x) for x in prefixes)]
        if not hits and (wanted in paths or prefixes != [wanted]):
            raise TrainError(
                f"--freeze {wanted}: '{wanted}' has no parameters of its own to freeze",
                "freeze a node with weights (`cramnet summary` lists each node's parameters); a head tied "
                "to a table is frozen with the table",
            )
        if not hits:
            from ..dsl.errors import did_you_mean

            hint = did_you_mean(wanted, list(paths)) or "name a node as `cramnet summary` lists it, or a module path"
            raise TrainError(f"--freeze {wanted}: no node or module of the model has that name", hint)
        for key, parameter in hits:
            parameter.requires_grad_(False)
            frozen.append(key)
    return frozen


def _inside(key: str, path: str) -> bool:
    """Whether a parameter's key lies in the module at `path` (or is that parameter)."""
    return key == path or key.startswith(path + ".")


def _matches(key: str, pattern: str) -> bool:
    """Whether a parameter's key, or the path of a module holding it, matches a shell-style pattern."""
    from fnmatch import fnmatchcase

    parts = key.split(".")
    return any(fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))
