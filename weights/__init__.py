"""Published weights in and out of specs: Hugging Face (gpt2, bert, llama, mamba, vit, t5) model
directories, PyG convolution state dicts and cramnet runs, mapped by the spec's structure — one
declared mapping per family (gpt2.py, bert.py, …) — loaded strictly with a report, and written back
in the Hugging Face layout; tokenizer.py reads the tokenizer.json saved beside them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .hf_export import export_hf
from .load import WeightsPlan, WeightsReport, freeze, load_weights, plan_weights, read_tensors, report_of

__all__ = [
    "WeightsPlan",
    "WeightsReport",
    "build_with_weights",
    "export_hf",
    "freeze",
    "load_weights",
    "plan_weights",
    "read_tensors",
    "report_of",
]


def build_with_weights(
    checked, path: str | Path, seed: int | None = None, meta: bool = True
) -> tuple[nn.Module, WeightsReport]:
    """Build the spec's module and load the checkpoint at `path` into it. With `meta` (the default)
    the module is built on the `meta` device and takes the checkpoint's tensors as its own — no
    random initialisation, no second copy — when every new tensor's module can initialise itself."""
    plan = None
    if meta:
        with torch.device("meta"):
            module = checked.build()
        state = module.state_dict(keep_vars=True)
        plan = plan_weights(checked, path, {k: v.shape for k, v in state.items()})  # the same for either build
        persistent = set(state)
        buffers = [k for k, _ in module.named_buffers() if k not in persistent]
        owners = {k.rpartition(".")[0] for k in plan.new}
        if not buffers and all(hasattr(module.get_submodule(o) if o else module, "reset_parameters") for o in owners):
            if seed is None:
                return module, load_weights(module, checked, path, plan)
            with torch.random.fork_rng(devices=[]):  # the new parts' initialisation, without touching the caller's
                torch.manual_seed(seed)
                return module, load_weights(module, checked, path, plan)
    module = checked.build(seed)
    return module, load_weights(module, checked, path, plan)
