"""Attention maps on request, without leaving the fused SDPA path by default."""

import torch
import torch.nn.functional as F

from cramnet.compiler import attention_maps, compile_spec

SPEC = (
    'use "std:transformer"\nmodel m {\n input x: [seq, 16]\n x -> pre_ln(16, 4, 32, causal = true) * 2 as y\n'
    " output y\n}\n"
)


def test_maps_are_the_softmax_weights_and_change_nothing():
    model = compile_spec(SPEC, seed=0).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    plain = model(x, x_mask=mask)
    with attention_maps(model) as maps:
        with_maps = model(x, x_mask=mask)
    torch.testing.assert_close(with_maps, plain, rtol=1e-5, atol=1e-6)
    assert list(maps) == ["pre_ln.0.attention_1", "pre_ln.1.attention_1"]  # module paths, in the order they ran
    weights = maps["pre_ln.0.attention_1"]
    assert weights.shape == (2, 4, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
    assert torch.all(weights[0].triu(1) == 0)  # causal: nothing from later positions
    assert torch.all(weights[1, :, :, 3:] == 0)  # padding: nothing from masked keys
    for module in model.modules():  # and afterwards nothing is kept
        assert getattr(module, "weights", None) is None and not getattr(module, "keep_weights", False)


def test_default_path_uses_scaled_dot_product_attention(monkeypatch):
    calls = []
    fused = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    model = compile_spec(SPEC, seed=0)
    model(torch.randn(1, 4, 16))
    assert len(calls) == 2
    with attention_maps(model):
        model(torch.randn(1, 4, 16))
    assert len(calls) == 2  # maps asked for: the explicit path
