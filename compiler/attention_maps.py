"""Attention maps on request: run a compiled model and keep each attention block's weights.

    with attention_maps(model) as maps:
        model(x)
    maps["pre_ln.0.attention_1"]          # (B, heads, queries, keys), rows sum to one

Outside the `with`, attention runs on the fused SDPA kernels and keeps nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def attention_maps(model: nn.Module) -> Iterator[dict]:
    """Within the block, attention modules compute explicit weights; on exit `maps` holds the last
    forward pass's weights by module path (detached), in the order the modules run."""
    modules = {path: m for path, m in model.named_modules() if hasattr(m, "keep_weights")}
    maps: dict = {}
    for module in modules.values():
        module.keep_weights, module.weights = True, None
    try:
        yield maps
    finally:
        for path, module in modules.items():
            if module.weights is not None:
                maps[path] = module.weights
            module.keep_weights, module.weights = False, None
