"""A trial run of a checked model: build it on a device, one forward and backward pass on random
inputs of the declared shapes, timed, with peak memory. Used by `cramnet compile`."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from ..blocks.dims import evaluate, symbols
from ..blocks.tensor_type import TensorType
from ..errors import DeviceUnavailable
from .api import CheckedModel

DEFAULT_SIZE = 16  # for run-time sizes not given with --dim


@dataclass
class TrialReport:
    device: str
    params: int
    seconds: float
    peak_memory: int
    peak_memory_kind: str

    @property
    def peak_memory_text(self) -> str:
        return f"{self.peak_memory / 2**20:.1f} MiB ({self.peak_memory_kind})"


def pick_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            "--device cuda was asked for but no CUDA GPU is available here", "use --device cpu or auto"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def random_inputs(checked: CheckedModel, sizes: dict[str, int], batch: int, device: torch.device) -> list:
    """One random batch for the model's inputs: floats ~ N(0, 1), token ids below every vocabulary
    that reads them, graphs as a ring per example (with `pairs` random node pairs to score, and
    node and edge types taken in turn when the graph declares them)."""
    values = []
    for name, kind in checked.input_types.items():
        dims = [evaluate(d, {**{s: DEFAULT_SIZE for s in symbols(d)}, **sizes}) for d in kind.dims]
        if kind.kind == "tokens":
            values.append(torch.randint(0, _vocabulary(checked, name), (batch, *dims), device=device))
        elif kind.kind == "graph":
            pairs = sizes.get("pairs", DEFAULT_SIZE)
            values.append(_ring_graphs(batch, dims[0], dims[1], device, pairs, kind.schema))
        else:
            values.append(torch.randn(batch, *dims, device=device))
    return values


def _vocabulary(checked: CheckedModel, node: str) -> int:
    vocabularies = [getattr(checked.graph.nodes[s].args, "vocab", None) for s in checked.graph.successors(node)]
    known = [v for v in vocabularies if isinstance(v, int)]
    return min(known) if known else 2


def _ring_graphs(
    graphs: int, nodes: int, features: int, device: torch.device, pairs: int = DEFAULT_SIZE, schema=None
) -> SimpleNamespace:
    index = torch.arange(graphs * nodes, device=device)
    following = (index % nodes + 1) % nodes + (index // nodes) * nodes
    edge_index = torch.cat([torch.stack([index, following]), torch.stack([following, index])], dim=1)
    offsets = torch.arange(graphs, device=device).repeat_interleave(pairs) * nodes
    graph = SimpleNamespace(
        x=torch.randn(graphs * nodes, features, device=device),
        edge_index=edge_index,
        batch=index // nodes,
        num_graphs=graphs,
        edge_label_index=torch.randint(0, nodes, (2, graphs * pairs), device=device) + offsets,
    )
    if schema is not None:
        graph.node_type = index % max(len(schema.node_types), 1)
        graph.edge_type = torch.arange(edge_index.shape[1], device=device) % max(len(schema.edge_types), 1)
    return graph


def batched_shape(value: TensorType, sizes: dict[str, int], batch: int) -> tuple[int, ...]:
    """The run-time shape of a value computed from `random_inputs`: the batch leads, except for graph
    and edge values, whose first axis stacks the batch's graphs."""
    dims = [evaluate(d, {**{s: DEFAULT_SIZE for s in symbols(d)}, **sizes}) for d in value.dims]
    return (batch * dims[0], *dims[1:]) if value.kind in ("graph", "edges") else (batch, *dims)


def trial_run(checked: CheckedModel, device: str, sizes: dict[str, int], batch: int) -> TrialReport:
    """Any failure but running out of memory is a bug (the checker passed the spec), so only that one
    is turned into a user-level error."""
    target = pick_device(device)
    try:
        return _timed_trial(checked, target, sizes, batch)
    except RuntimeError as error:
        if not out_of_memory(error):
            raise
        hint = "use a smaller --batch or --dim sizes" + (", or --device cpu" if target.type == "cuda" else "")
        raise DeviceUnavailable(f"out of memory on {target}: {str(error).splitlines()[0]}", hint) from None


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` is torch running out of memory: the user's to fix (smaller batch or model), not
    a bug. CUDA raises its own class; the CPU allocator a plain RuntimeError that says so."""
    return isinstance(error, torch.cuda.OutOfMemoryError) or "can't allocate memory" in str(error)


def _timed_trial(checked: CheckedModel, target: torch.device, sizes: dict[str, int], batch: int) -> TrialReport:
    module = checked.build(seed=0).to(target)
    inputs = random_inputs(checked, sizes, batch, target)
    _step(module, inputs)  # the first pass pays one-off costs (kernel selection, allocator warm-up)
    if target.type == "cuda":
        torch.cuda.reset_peak_memory_stats(target)
        torch.cuda.synchronize(target)
    start = time.perf_counter()
    _step(module, inputs)
    if target.type == "cuda":
        torch.cuda.synchronize(target)
        peak, kind = torch.cuda.max_memory_allocated(target), "GPU, allocated by tensors"
    else:
        peak, kind = _peak_rss(), "process peak RSS"
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return TrialReport(str(target), params, seconds, peak, kind)


def _step(module: torch.nn.Module, inputs: list) -> None:
    """One forward and backward pass; the loss is the sum of the float outputs' means."""
    module.zero_grad(set_to_none=True)
    outputs = module(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    loss = sum(o.float().mean() for o in outputs if o.is_floating_point())
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        loss.backward()


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
