"""Compiled specs compute exactly what hand-written PyTorch computes, with the same weights."""

import pytest
import torch

from cramnet.compiler import compile_spec

from .twins import TWINS, copy_weights


@pytest.mark.parametrize("spec", sorted(TWINS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_compiled_spec_matches_hand_written_twin(spec, mode):
    twin_class, shape = TWINS[spec]
    compiled, twin = compile_spec(spec, seed=0), twin_class()
    copy_weights(compiled, twin)
    compiled.train(mode == "train")
    twin.train(mode == "train")
    x = torch.randn(4, *shape)
    torch.manual_seed(1)
    expected = twin(x)
    torch.manual_seed(1)  # same dropout masks
    actual = compiled(x)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    actual.square().sum().backward()
    expected.square().sum().backward()
    for (name, p), q in zip(compiled.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-7, msg=name)


def test_parameter_count_equals_twin():
    for spec, (twin_class, _) in TWINS.items():
        compiled = compile_spec(spec)
        assert sum(p.numel() for p in compiled.parameters()) == sum(p.numel() for p in twin_class().parameters())
