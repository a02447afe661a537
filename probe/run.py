"""Probing a trained run at one node: its partial model run over a data split, the values saved as
`.npy` and drawn — the latent space by PCA, attention maps and their rollout, tokens per expert,
a KAN layer's functions — into one directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..dsl.errors import did_you_mean
from . import plots
from .activations import collect, stages
from .errors import ProbeError
from .partial import partial_graph, partial_model, resolve_node


@dataclass
class ProbeResult:
    """What a probe wrote: `files` (each with what it holds), the node's values' shape, and notes."""

    node: str
    block: str
    split: str
    out: Path
    shape: tuple[int, ...]  # (rows, *node shape)
    labelled: bool
    files: dict[Path, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def probe_run(
    run: str | Path,
    node: str,
    data: str | None = None,
    split: str = "test",
    out: Path | None = None,
    weights: str | Path | None = None,
) -> ProbeResult:
    """Probe the run in directory `run` at `node` (a name as `cramnet summary` lists it) over the split
    `split` of its data (or of `data`); files go to `out` (default RUN/probes/NODE)."""
    from ..train.inference import open_run
    from ..train.setup import prepare

    trained = open_run(run, weights)  # a run, or a spec with published weights
    checked = trained.checked
    node = resolve_node(checked, node)
    attrs = checked.graph.nodes[node]
    config = trained.config
    if data is not None:
        config = {**config, "data": {**config["data"], "name": data}}
    config = {**config, "device": "cpu", "precision": "fp32", "compile": False, "task": trained.info["task"]}
    splits = prepare(None, config, checked=checked).data.splits
    if split not in splits:
        raise ProbeError(f"no split named '{split}'", did_you_mean(split, splits) or f"splits: {', '.join(splits)}")
    inputs = partial_graph(checked, node).inputs
    module = partial_model(checked, node, trained.module.state_dict())
    found = collect(module, checked, inputs, splits[split])

    home = Path(run) if weights is None else Path(run).parent  # a spec's probes go beside it
    out = Path(out) if out is not None else home / "probes" / attrs["attr"]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ProbeError(f"cannot write to {out}: {error.strerror or error}") from None
    result = ProbeResult(node, attrs["block"], split, out, found.activations.shape, found.labels is not None)
    if attrs["type"].kind in ("graph", "edges") and found.labels is None:  # node classification: nodes are examples
        kind = "graph nodes" if attrs["type"].kind == "graph" else "node pairs"
        result.notes.append(f"a row is one of the split's {kind} (its graphs stacked), not an example")
    files = result.files
    np.save(out / "activations.npy", found.activations)
    files[out / "activations.npy"] = f"the node's values, {found.activations.shape}"
    if found.labels is not None:
        np.save(out / "labels.npy", found.labels)
        files[out / "labels.npy"] = "the label of each row"
    if len(found.activations) >= 2 and found.activations.dtype.kind == "f":
        title = f"{node} ({attrs['type']}) on the {split} split: {len(found.activations):,} rows"
        path = plots.latent_pca(found.activations, found.labels, title, out / "latent_pca.png")
        files[path] = "the rows on their first two principal components" + (
            ", by label" if found.labels is not None else ""
        )
    else:
        result.notes.append("no PCA: it needs at least two rows of floating-point values")
    _attention(found, out, files, checked)
    if found.experts:
        (out / "experts.json").write_text(json.dumps(found.experts, indent=2) + "\n")
        files[out / "experts.json"] = "tokens (or examples) routed to each expert, per router"
        files[plots.experts(found.experts, out / "experts.png")] = "the same as bars"
    if attrs["block"] == "kan":
        xs, ys = stages(module, checked)[node].curves()
        np.savez(out / "kan_functions.npz", x=xs.numpy(), y=ys.numpy())  # y: (out, in, points)
        files[out / "kan_functions.npz"] = "the layer's learned functions: x (points,), y (out, in, points)"
        edges = ys.shape[0] * ys.shape[1]
        title = f"{node}: the {min(16, edges)} functions of largest range, of {edges}"
        files[plots.kan_functions(xs, ys, title, out / "kan_functions.png")] = "the functions of largest range"
    result.notes += found.notes
    return result


def _attention(found, out: Path, files: dict[Path, str], checked) -> None:
    for node, total in found.attention.items():
        attr = checked.graph.nodes[node]["attr"]
        mean = total / found.attention_count[node]
        title = f"{node}: attention per head, mean over {found.attention_count[node]:,} examples"
        path = plots.attention_heads(mean, title, out / f"attention_{attr}.png")
        files[path] = f"{node}: attention per head, mean over examples"
    if found.rollout is not None:
        mean = found.rollout / found.rollout_count
        np.save(out / "attention_rollout.npy", mean.numpy())
        path = plots.attention_rollout(mean, len(found.attention), out / "attention_rollout.png")
        files[path] = "attention rollout over the layers (Abnar & Zuidema 2020), and per token (also .npy)"
    elif found.attention:
        found.notes.append("no attention rollout: it needs self-attention layers over one sequence length")
