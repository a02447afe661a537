"""Probing a trained run at one node: its partial model run over a data split, the values saved as
`.npy` and drawn — the latent space, and what concerns the node: its attention maps and their
rollout, tokens per expert, a KAN layer's functions — into one directory; on request the model
after the node decodes its values (decode.py), a KAN layer is read as formulas (formulas.py), a
graph's nodes are clustered (clusters.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..dsl.errors import did_you_mean
from . import plots
from .activations import collect, stages
from .errors import ProbeError
from .partial import after_graph, after_model, partial_graph, partial_model, resolve_node


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
    decode: bool = False,
    symbolic: bool = False,
    clusters: int | None = None,
    weights: str | Path | None = None,
    device: str = "cpu",
    console=None,
) -> ProbeResult:
    """Probe the run in directory `run` at `node` (a name as `cramnet summary` lists it) over the split
    `split` of its data (or of `data`); files go to `out` (default RUN/probes/NODE). With `decode`, the
    part of the model after the node decodes a plane of its values (decode.py); with `symbolic`, a `kan`
    node's functions are matched to formulas (formulas.py); with `clusters` K, a graph node's
    embeddings are clustered (clusters.py). With `weights`, `run` may be a spec with published weights.
    The pass over the split runs on `device`; the rest (plots, formulas) on the CPU. Long work (the
    symbolic fits) shows its progress on the rich `console`, if one is given."""
    from ..train.config import get
    from ..train.data import unlabelled_splits
    from ..train.inference import open_run
    from ..train.setup import pick_device, prepare

    if clusters is not None and clusters < 2:
        raise ProbeError(f"--clusters {clusters}: clustering needs at least 2 clusters")
    trained = open_run(run, weights)  # a run, or a spec with published weights
    checked = trained.checked
    node = resolve_node(checked, node)
    attrs = checked.graph.nodes[node]
    if symbolic and attrs.block != "kan":
        kans = [n for n, a in checked.graph.nodes(data=True) if a.block == "kan"]
        hint = f"the kan layers: {', '.join(kans)}" if kans else f"model '{checked.name}' has no kan layer"
        raise ProbeError(f"--symbolic reads a kan layer's functions; {node} is a {attrs.block}", hint)
    if clusters is not None and attrs.type.kind != "graph":
        raise ProbeError(
            f"--clusters groups a graph's nodes by their embeddings; {node} is {attrs.type}, not a graph value",
            "name a node of the graph branch (its type is graph[…] in `cramnet summary`)",
        )
    if decode and attrs.type.kind != "float":
        raise ProbeError(
            f"--decode walks a plane of a node's numbers; {node} is {attrs.type}",
            "decode from a float-valued node, such as an autoencoder's latent",
        )
    decoder = after_model(checked, node, trained.module.state_dict()) if decode else None
    config = trained.config
    if data is not None:
        config = {**config, "data": {**config["data"], "name": data}}
    config = {**config, "device": "cpu", "precision": "fp32", "compile": False, "task": trained.info["task"]}
    fractions = (get(config, "data.val_fraction"), get(config, "data.test_fraction"))
    # a probe colours by labels where the data has them; a file of inputs alone is probed as it is
    splits = None if data is None else unlabelled_splits(data, checked.input_types, config["seed"], fractions)
    if splits is None:
        splits = prepare(None, config, checked=checked, tokenizer=trained.tokenizer).data.splits
    if split not in splits:
        raise ProbeError(f"no split named '{split}'", did_you_mean(split, splits) or f"splits: {', '.join(splits)}")
    inputs = partial_graph(checked, node).inputs
    module = partial_model(checked, node, trained.module.state_dict())
    found = collect(module.to(pick_device(device)), checked, inputs, splits[split], every_node=clusters is not None)
    module.cpu()

    home = Path(run) if weights is None else Path(run).parent  # a spec's probes go beside it
    out = Path(out) if out is not None else home / "probes" / attrs.attr
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ProbeError(f"cannot write to {out}: {error.strerror or error}") from None
    result = ProbeResult(node, attrs.block, split, out, found.activations.shape, found.labels is not None)
    if attrs.type.kind in ("graph", "edges") and found.labels is None:  # node classification: nodes are examples
        kind = "graph nodes" if attrs.type.kind == "graph" else "node pairs"
        result.notes.append(f"a row is one of the split's {kind} (its graphs stacked), not an example")
    files = result.files
    np.save(out / "activations.npy", found.activations)
    files[out / "activations.npy"] = f"the node's values, {found.activations.shape}"
    if found.labels is not None:
        np.save(out / "labels.npy", found.labels)
        files[out / "labels.npy"] = "the label of each row"
    _latent(found, trained, node, attrs, split, out, result)
    _attention(found, node, out, files, checked, trained.tokenizer)
    if node in found.experts:
        counts = {node: found.experts[node]}
        (out / "experts.json").write_text(json.dumps(counts, indent=2) + "\n")
        files[out / "experts.json"] = "tokens (or examples) routed to each expert"
        names = expert_names(attrs)
        files[plots.experts(counts, out / "experts.png", names)] = "the same as bars, each expert named by its body"
    if attrs.block == "kan":
        layer = stages(module, checked)[node]
        xs, ys = layer.curves()
        np.savez(out / "kan_functions.npz", x=xs.numpy(), y=ys.numpy())  # y: (out, in, points)
        files[out / "kan_functions.npz"] = "the layer's learned functions: x (points,), y (out, in, points)"
        edges = ys.shape[0] * ys.shape[1]
        title = f"{node}: the {min(16, edges)} functions of largest range, of {edges}"
        files[plots.kan_functions(xs, ys, title, out / "kan_functions.png")] = "the functions of largest range"
        if symbolic:
            from .formulas import symbolic_probe

            files.update(symbolic_probe(module, checked, node, inputs, splits[split], out, console))
    if decoder is not None:
        files.update(_decode(decoder, found, checked, node, attrs, out))
    if clusters is not None:
        from .clusters import cluster_probe

        graph = _graph_of(splits[split], inputs)
        files.update(cluster_probe(found.activations, found.labels, graph, clusters, node, out, result.notes))
    result.notes += found.notes
    return result


def _latent(found, trained, node: str, attrs, split: str, out: Path, result: ProbeResult) -> None:
    """`latent.png`: the rows by label; a sequence's rows are its tokens (by token and by position)."""
    files, values = result.files, found.activations
    if len(values) < 2 or values.dtype.kind != "f":
        result.notes.append("no scatter: it needs at least two rows of floating-point values")
        return
    rows = f"{len(values):,} rows"
    if values.ndim == 3 and attrs.type.kind == "float" and attrs.type.rank == 2:  # (examples, seq, features)
        examples, length = values.shape[:2]
        tokens = values.reshape(examples * length, -1)
        shape = f"{examples:,} sequences × {length} positions, one point a token"
        title = f"{node} ({attrs.type}), {split} split:\n{shape}"
        positions = np.tile(np.arange(length), examples)
        path = plots.latent(tokens, positions, title, out / "latent_positions.png", legend="position")
        files[path] = "one point per token, coloured by its position"
        ids = _token_ids(found, trained, examples, length)
        if ids is not None:
            names, coloured = _frequent_tokens(ids, trained.tokenizer)
            path = plots.latent(tokens, coloured, title, out / "latent.png", legend="token", names=names)
            files[path] = "one point per token, coloured by the token (the 9 most frequent; the rest as 'other')"
        return
    title = f"{node} ({attrs.type}) on the {split} split: {rows}"
    path = plots.latent(values, found.labels, title, out / "latent.png")
    two = values.reshape(len(values), -1).shape[1] == 2
    files[path] = ("its two coordinates" if two else "the rows on their first two principal components") + (
        ", coloured by label" if found.labels is not None else ""
    )


def _token_ids(found, trained, examples: int, length: int) -> np.ndarray | None:
    """The input token at each row of a sequence value, when the model reads tokens of that length."""
    tokens = found.input_tokens
    if tokens is None or tokens.shape != (examples, length):
        return None
    return tokens.reshape(-1)


def _frequent_tokens(ids: np.ndarray, tokenizer, shown: int = 9) -> tuple[dict[int, str], np.ndarray]:
    """Colour classes for tokens: the `shown` most frequent keep their id, the rest become `shown`
    ('other'); names are the tokens' text where a tokenizer can say it."""
    values, counts = np.unique(ids, return_counts=True)
    frequent = values[np.argsort(-counts)[:shown]]
    coloured = np.full(len(ids), len(frequent))
    names: dict[int, str] = {len(frequent): "other"}
    for colour, token in enumerate(frequent):
        coloured[ids == token] = colour
        names[colour] = repr(tokenizer.decode([int(token)])) if tokenizer is not None else f"token {token}"
    return names, coloured


def expert_names(attrs) -> list[str] | None:
    """Each expert of a `moe` named by its body (`reshape → lstm`) where the bodies differ; None when alike."""
    bodies = attrs.args.bodies
    if len(bodies.graphs) < 2:
        return None
    named = []
    for copy in bodies.copies:
        body = bodies.graphs[copy].graph
        order = sorted((n for n in body if body.nodes[n].block != "input"), key=lambda n: body.nodes[n].order)
        named.append(" → ".join(body.nodes[n].block for n in order) or "identity")
    return named


def _graph_of(split, inputs: list[str]):
    """The split's graph (edges) for the first graph input: a node-classification split's one graph,
    or a graph-classification split's graphs as one (disconnected) graph."""
    batch = split.batch(torch.arange(len(split)))  # every graph of the split, collated as the probe's batches were
    return batch.inputs[inputs[0]] if inputs else None


def _decode(decoder, found, checked, node: str, attrs, out: Path) -> dict[Path, str]:
    from . import decode

    outputs = list(after_graph(checked, node).outputs)
    decoded = decode.decode_latent(decoder, outputs, found.activations, found.labels, attrs.type.dims)
    np.savez(
        out / "decoded.npz",
        s=decoded.s,
        t=decoded.t,
        grid=decoded.grid,
        origin=decoded.plane.origin,
        axes=decoded.plane.axes,
        pairs=np.array(decoded.pairs),
        lines=decoded.lines,
    )
    title = f"decoding {node} ({attrs.type}) with the model after it"
    decode.decoded_figure(decoded, found.activations, found.labels, title, out / "decoded.png")
    decode.interpolations_figure(decoded, found.labels, out / "interpolations.png")
    steps = len(decoded.s)
    return {
        out
        / "decoded.png": f"{decoded.output} decoded on a {steps}×{steps} grid over the {node} plane, beside the values",
        out / "interpolations.png": f"{decoded.output} decoded between {len(decoded.pairs)} pairs of examples",
        out / "decoded.npz": "the grid (s, t, grid: rows × columns × output), the plane and the interpolations",
    }


def _attention(found, node: str, out: Path, files: dict[Path, str], checked, tokenizer) -> None:
    """At an attention node: its map per head (mean over examples, and the first example's with its
    tokens on the axes) and the rollout through the attention layers up to it."""
    if node not in found.attention:
        return
    attr = checked.graph.nodes[node].attr
    count = found.attention_count[node]
    mean = found.attention[node] / count
    title = f"{node}: attention per head, mean over {count:,} examples"
    files[plots.attention_heads(mean, title, out / f"attention_{attr}.png")] = "attention per head, mean over examples"
    example = found.example_attention.get(node)
    if example is not None:
        labels = None
        if found.example_tokens is not None and len(found.example_tokens) == example.shape[-1]:
            ids = found.example_tokens
            labels = [tokenizer.decode([t]) if tokenizer is not None else str(t) for t in ids]
        title = f"{node}: attention per head on the split's first example"
        path = plots.attention_heads(example, title, out / f"attention_{attr}_example.png", labels)
        files[path] = "the first example's attention per head" + (", its tokens on the axes" if labels else "")
    if found.rollout is not None:
        mean = found.rollout / found.rollout_count
        np.save(out / "attention_rollout.npy", mean.numpy())
        path = plots.attention_rollout(mean, len(found.attention), out / "attention_rollout.png")
        files[path] = "attention rollout over the layers up to here (Abnar & Zuidema 2020), and per token (also .npy)"
    else:
        found.notes.append("no attention rollout: it needs self-attention layers over one sequence length")
