"""Attention blocks against nn.MultiheadAttention and direct computation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors


def attention_model(args: str, d: int = 16, extra_input: str = "") -> str:
    return f"model m {{\n input x: [seq, {d}]\n{extra_input} x -> attention({args}) as y\n output y\n}}\n"


def copy_into_mha(ours, mha):
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        mha.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        mha.out_proj.weight.copy_(ours.o_proj.weight)
        mha.out_proj.bias.copy_(ours.o_proj.bias)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_multihead_attention(causal, masked):
    model = compile_spec(attention_model(f"4, causal = {str(causal).lower()}"), seed=0).eval()
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in mha.parameters())
    copy_into_mha(model.y, mha)
    x = torch.randn(3, 7, 16)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False
    mask[2, 2:] = False
    causal_mask = torch.ones(7, 7, dtype=torch.bool).triu(1) if causal else None
    expected, _ = mha(x, x, x, key_padding_mask=~mask if masked else None, attn_mask=causal_mask, need_weights=False)
    actual = model(x, x_mask=mask) if masked else model(x)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kv_heads,bias", [(4, True), (2, False)])
def test_one_stacked_qkv_product_equals_three_projections_with_gradients(kv_heads, bias, monkeypatch):
    from cramnet.blocks.attention import SelfAttention

    class Separate(nn.Linear):  # any Linear subclass takes the three-call path
        pass

    torch.manual_seed(0)
    fused = SelfAttention(32, 4, kv_heads, bias=bias, causal=True)
    separate = SelfAttention(32, 4, kv_heads, bias=bias, causal=True)
    for name in ("q_proj", "k_proj", "v_proj"):
        plain = getattr(fused, name)
        setattr(separate, name, Separate(plain.in_features, plain.out_features, bias=bias))
    separate.load_state_dict(fused.state_dict())
    assert list(fused.state_dict()) == list(separate.state_dict())  # the same layout either way
    x = torch.randn(3, 7, 32, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    calls = []
    linear = nn.Linear.forward
    monkeypatch.setattr(nn.Linear, "forward", lambda self, v: calls.append(self) or linear(self, v))
    y = fused(x)
    assert calls == [fused.o_proj]  # q, k and v came from the one stacked product
    y2 = separate(x2)
    torch.testing.assert_close(y, y2)
    y.square().sum().backward()
    y2.square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    for (name, p), p2 in zip(fused.named_parameters(), separate.parameters()):
        torch.testing.assert_close(p.grad, p2.grad, msg=name)
    calls.clear()
    with torch.no_grad():  # no backward to save: three products, no copy of the weights
        fused(x)
    assert calls == [fused.q_proj, fused.k_proj, fused.v_proj, fused.o_proj]


def test_causal_attention_ignores_later_tokens():
    model = compile_spec(attention_model("2, causal = true, rope = true"), seed=0).eval()
    x = torch.randn(1, 9, 16)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 4, 16)
    torch.testing.assert_close(model(x)[:, :5], model(changed)[:, :5])
    assert not torch.allclose(model(x)[:, 5:], model(changed)[:, 5:])


def test_padding_leaves_real_positions_unchanged():
    model = compile_spec(attention_model("4"), seed=0).eval()
    x = torch.randn(1, 5, 16)
    padded = torch.cat([x, torch.randn(1, 3, 16)], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    torch.testing.assert_close(model(padded, x_mask=mask)[:, :5], model(x), rtol=1e-5, atol=1e-6)


def test_grouped_query_and_rope_shapes_and_counts():
    checked = check_spec(attention_model("8, kv_heads = 2, rope = true, bias = false", d=64))
    kv = 2 * 64 // 8
    assert checked.summary().params == 64 * 64 * 2 + 2 * 64 * kv
    model = checked.build(seed=0)
    assert model.y.k_proj.weight.shape == (kv, 64)
    assert model(torch.randn(2, 10, 64)).shape == (2, 10, 64)


def test_grouped_query_attention_equals_repeated_heads():
    model = compile_spec(attention_model("4, kv_heads = 2"), seed=0).eval()
    attn = model.y
    x = torch.randn(2, 6, 16)
    q = attn.q_proj(x).view(2, 6, 4, 4).transpose(1, 2)
    k = attn.k_proj(x).view(2, 6, 2, 4).transpose(1, 2).repeat_interleave(2, dim=1)
    v = attn.v_proj(x).view(2, 6, 2, 4).transpose(1, 2).repeat_interleave(2, dim=1)
    weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
    expected = attn.o_proj((weights @ v).transpose(1, 2).reshape(2, 6, 16))
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)


def test_rope_rotates_pairs_by_position():
    t = torch.randn(1, 1, 5, 8)
    rotated = check_spec(attention_model("2, rope = true")).build().y.rotate(t)
    torch.testing.assert_close(rotated[..., 0, :], t[..., 0, :])  # position 0 does not turn
    torch.testing.assert_close(rotated.norm(dim=-1), t.norm(dim=-1))  # rotations keep lengths
    angle = 3 * 10000.0 ** (-2 / 8)  # position 3, pair 1
    x, y = t[0, 0, 3, 1], t[0, 0, 3, 5]
    expected = torch.stack(
        [
            x * torch.cos(torch.tensor(angle)) - y * torch.sin(torch.tensor(angle)),
            y * torch.cos(torch.tensor(angle)) + x * torch.sin(torch.tensor(angle)),
        ]
    )
    torch.testing.assert_close(rotated[0, 0, 3, [1, 5]], expected)


def test_heads_must_divide_width_and_kv_heads_divide_heads():
    for args, message in (("5", "must divide the model width 16"), ("4, kv_heads = 3", "kv_heads = 3 must divide")):
        with pytest.raises(SpecErrors) as failure:
            check_spec(attention_model(args))
        assert failure.value.errors[0].code == "E401" and message in failure.value.errors[0].message


CROSS = """
model m {
    input x: [seq, 16]
    input mem: [mem_len, 12]
    x -> cross_attention(4, memory = mem) as y
    output y
}
"""


def test_cross_attention_reads_its_memory():
    model = compile_spec(CROSS, seed=0).eval()
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 12)
    assert model(x, memory).shape == (2, 5, 16)
    assert not torch.allclose(model(x, memory), model(x, torch.randn(2, 7, 12)))
    mha = nn.MultiheadAttention(16, 4, kdim=12, vdim=12, batch_first=True).eval()
    attn = model.y
    with torch.no_grad():
        mha.q_proj_weight.copy_(attn.q_proj.weight)
        mha.k_proj_weight.copy_(attn.k_proj.weight)
        mha.v_proj_weight.copy_(attn.v_proj.weight)
        mha.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        mha.out_proj.load_state_dict(attn.o_proj.state_dict())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in mha.parameters())
    mem_mask = torch.ones(2, 7, dtype=torch.bool)
    mem_mask[0, 4:] = False
    expected, _ = mha(x, memory, memory, key_padding_mask=~mem_mask, need_weights=False)
    torch.testing.assert_close(model(x, memory, mem_mask=mem_mask), expected, rtol=1e-5, atol=1e-5)


def test_pool_modes_honour_the_mask():
    source = (
        "model m {\n input x: [seq, 3]\n a = x -> pool(mean)\n b = x -> pool(max)\n c = x -> pool(last)\n"
        " d = x -> pool(cls)\n output a, b, c, d\n}\n"
    )
    model = compile_spec(source)
    x = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    a, b, c, d = model(x, x_mask=mask)
    torch.testing.assert_close(a[0], x[0, :2].mean(0))
    torch.testing.assert_close(b[0], x[0, :2].amax(0))
    torch.testing.assert_close(c[0], x[0, 1])
    torch.testing.assert_close(c[1], x[1, 3])
    torch.testing.assert_close(d, x[:, 0])


def test_cls_token_extends_the_mask_and_pos_embed_adds_positions():
    source = (
        "model m {\n input x: [seq, 8]\n x -> cls_token -> pos_embed(10) -> attention(2) -> pool(mean) as y\n"
        " output y\n}\n"
    )
    model = compile_spec(source, seed=0).eval()
    x = torch.randn(1, 4, 8)
    padded = torch.cat([x, torch.randn(1, 2, 8)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    torch.testing.assert_close(model(padded, x_mask=mask), model(x), rtol=1e-5, atol=1e-6)
    assert "F.pad(x_mask, (1, 0), value=True)" in check_spec(source).source()


def test_sinusoidal_positions_follow_the_formula():
    model = compile_spec("model m {\n input x: [seq, 6]\n x -> pos_embed(kind = sinusoidal) as y\n output y\n}\n")
    table = model(torch.zeros(1, 5, 6))[0]
    p, i = 3, 1
    torch.testing.assert_close(table[p, 2 * i], torch.sin(torch.tensor(p / 10000 ** (2 * i / 6))))
    torch.testing.assert_close(table[p, 2 * i + 1], torch.cos(torch.tensor(p / 10000 ** (2 * i / 6))))


def test_patch_embed_is_a_strided_convolution():
    model = compile_spec("model m {\n input image: [3, 8, 8]\n image -> patch_embed(4, 5) as y\n output y\n}\n")
    x = torch.randn(2, 3, 8, 8)
    conv = model.y
    expected = F.conv2d(x, conv.weight, conv.bias, stride=4).flatten(2).transpose(1, 2)
    torch.testing.assert_close(model(x), expected)
    assert model(x).shape == (2, 4, 5)


def test_a_token_inputs_mask_passes_through_the_embedding():
    source = (
        "model m {\n input ids: tokens[seq]\n ids -> embed(20, 16) -> attention(4) -> pool(mean) as y\n output y\n}\n"
    )
    model = compile_spec(source, seed=0).eval()
    ids = torch.randint(0, 20, (1, 5))
    padded = torch.cat([ids, torch.randint(0, 20, (1, 3))], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    torch.testing.assert_close(model(padded, ids_mask=mask), model(ids), rtol=1e-5, atol=1e-6)
