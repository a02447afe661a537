"""Probing a trained run: the partial models up to and after a node, its values over a data split and plots.

from cramnet.probe import probe_run
result = probe_run("runs/vae-…", "z", decode=True)   # RUN/probes/z: activations.npy, latent.png, decoded.png, …
"""

from .errors import ProbeError
from .partial import after_graph, after_model, partial_graph, partial_model, resolve_node
from .run import ProbeResult, probe_run

__all__ = [
    "ProbeError",
    "ProbeResult",
    "after_graph",
    "after_model",
    "partial_graph",
    "partial_model",
    "probe_run",
    "resolve_node",
]
