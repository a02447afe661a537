"""Our reference specs against the reference libraries themselves, where they are installed (the
GPU machine's image has torchvision; the CPU build here does not, and these tests skip)."""

import pytest
import torch

from cramnet.compiler import compile_spec

from .twins import copy_weights

torchvision = pytest.importorskip("torchvision")


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_equals_torchvision(name):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ours = compile_spec(f"specs/reference/{name}.cram", seed=0).to(device).eval()
    reference = getattr(torchvision.models, name)(weights=None).to(device).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    copy_weights(ours, reference)  # same tensors in the same order: the layouts agree one for one
    x = torch.randn(2, 3, 224, 224, device=device)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)
