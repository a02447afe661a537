"""Writing a spec's weights back in a Hugging Face layout (config.json + model.safetensors), through
the same per-family links that load them, run backwards."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import TrainError
from .load import _FAMILY_NAMES, FAMILIES
from .structure import Structure


class _Any:
    def __eq__(self, other) -> bool:
        return True

    __hash__ = None


class _EveryName(dict):
    """For writing: the checkpoint to be has every tensor a mapping asks about (an untied head is
    written under the head's own name, not the token table's)."""

    def __contains__(self, key) -> bool:
        return True

    def get(self, key, default=None):
        return _Any()


def fitting_family(checked, expected: dict[str, torch.Size]):
    """The family whose layout covers the most of the spec (None when none fits)."""
    s = Structure(checked, expected)
    best, best_count = None, 0
    for family in FAMILIES:
        try:
            links = family.links(s, _EveryName(), "")
        except TrainError:
            continue
        keys = [k for link in links for k in link.spec]
        if any(k not in expected for k in keys):
            continue
        if len(keys) > best_count:
            best, best_count = family, len(keys)
    return best


def export_hf(module: nn.Module, checked, out: str | Path) -> tuple[Path, str, list[str]]:
    """Write `module`'s weights as a Hugging Face model directory; (the directory, the family, the
    spec's tensors the layout has no place for — a head of the spec's own, say)."""
    out = Path(out)
    state = module.state_dict()
    expected = {k: v.shape for k, v in state.items()}
    family = fitting_family(checked, expected)
    if family is None:
        raise TrainError(
            f"model '{checked.name}' has no Hugging Face layout: its structure matches none of {_FAMILY_NAMES}",
            "export --format hf writes specs shaped like the reference specs (specs/gpt2.cram, specs/reference/)",
        )
    s = Structure(checked, expected)
    tensors: dict[str, torch.Tensor] = {}
    links = family.links(s, _EveryName(), "")
    written = {k for link in links for k in link.spec}
    for link in links:
        if all(name in tensors for name in link.checkpoint):
            continue  # a head tied to the token table writes nothing of its own
        for name, tensor in zip(link.checkpoint, link.save([state[k] for k in link.spec])):
            tensors[name] = tensor.detach().to("cpu", copy=True).contiguous()
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    config = {**family.hf_config(s), "torch_dtype": str(next(iter(state.values())).dtype).replace("torch.", "")}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out, family.NAME, [k for k in state if k not in written]
