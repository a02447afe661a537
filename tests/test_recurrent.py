"""Recurrent blocks are PyTorch's own modules: equal outputs, counts, masks, and encoder states."""

import pytest
import torch
from torch import nn

from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors


def recurrent_model(call: str) -> str:
    return f"model m {{\n input x: [seq, 5]\n x -> {call} as y\n output y\n}}\n"


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_equals_torch_module(kind, bidirectional):
    flag = str(bidirectional).lower()
    model = compile_spec(recurrent_model(f"{kind}(7, layers = 2, bidirectional = {flag})"), seed=0)
    reference = getattr(nn, kind.upper())(5, 7, num_layers=2, bidirectional=bidirectional, batch_first=True)
    reference.load_state_dict(model.y.state_dict())  # the same parameter names and shapes
    assert check_spec(recurrent_model(f"{kind}(7, layers = 2, bidirectional = {flag})")).summary().params == sum(
        p.numel() for p in reference.parameters()
    )
    x = torch.randn(3, 6, 5)
    torch.testing.assert_close(model(x), reference(x)[0])


def test_return_last_is_the_final_hidden_state_of_both_directions():
    model = compile_spec(recurrent_model("lstm(4, bidirectional = true, return = last)"), seed=0)
    x = torch.randn(2, 6, 5)
    _, (hidden, _) = nn.LSTM.forward(model.y, x)
    torch.testing.assert_close(model(x), torch.cat([hidden[-2], hidden[-1]], dim=-1))
    assert model(x).shape == (2, 8)


def test_masked_sequences_stop_at_their_length():
    model = compile_spec(recurrent_model("gru(4, return = last)"), seed=0)
    x = torch.randn(2, 6, 5)
    mask = torch.tensor([[True] * 3 + [False] * 3, [True] * 6])
    torch.testing.assert_close(model(x, x_mask=mask)[0], model(x[:1, :3])[0])
    torch.testing.assert_close(model(x, x_mask=mask)[1], model(x[1:])[0])


def test_decoder_starts_from_the_encoders_final_state():
    source = """
    model m {
        input src: [s, 5]
        input tgt: [t, 3]
        enc = src -> lstm(8, layers = 2)
        tgt -> lstm(8, layers = 2, state = enc) as dec
        output dec
    }"""
    model = compile_spec(source, seed=0)
    src, tgt = torch.randn(2, 4, 5), torch.randn(2, 3, 3)
    _, state = nn.LSTM.forward(model.enc, src)
    expected, _ = nn.LSTM.forward(model.dec, tgt, state)
    torch.testing.assert_close(model(src, tgt), expected)
    assert not torch.allclose(model(src, tgt), model(torch.randn(2, 4, 5), tgt))


def test_state_must_come_from_a_matching_recurrent_stage():
    source = "model m {\n input x: [s, 5]\n enc = x -> gru(8)\n x -> lstm(8, state = enc) as y\n output y\n}\n"
    with pytest.raises(SpecErrors) as failure:
        check_spec(source)
    assert "a lstm can start from another lstm's final state" in failure.value.errors[0].message
    source = "model m {\n input x: [s, 5]\n enc = x -> lstm(4)\n x -> lstm(8, state = enc) as y\n output y\n}\n"
    with pytest.raises(SpecErrors) as failure:
        check_spec(source)
    assert "hidden 4" in failure.value.errors[0].message


def spec_model(pipeline: str, width: int = 6):
    return compile_spec(f"model m {{\n input x: [seq, {width}]\n x -> {pipeline} as y\n output y\n}}\n", seed=0)


@pytest.mark.parametrize(
    "kind, extra",
    [("lstm", ""), ("gru", ""), ("rnn", ""), ("lstm", ", bidirectional = true"), ("lstm", ", layers = 2")],
)
def test_a_chain_of_stages_runs_as_one_multi_layer_call(kind, extra):
    """`lstm(8) -> lstm(8)` through one call with both stages' weights: the same outputs, final
    states and gradients as the two calls in turn, and the same parameters (checkpoint keys)."""
    model = spec_model(f"{kind}(8{extra}) -> {kind}(8{extra}) -> {kind}(8{extra}, return = last)")
    stages = [model.get_submodule(name) for name, _ in model.named_children()]
    x = torch.randn(3, 5, 6, requires_grad=True)
    out, *states = type(stages[0]).chain(stages, x)
    expected, value = [], x
    for stage in stages:
        value, state = stage(value)
        expected.append(state)
    torch.testing.assert_close(out, value)
    for mine, theirs in zip(states, expected):
        torch.testing.assert_close(mine, theirs)
    probe = torch.randn_like(out)
    parameters = [x, *model.parameters()]
    mine = torch.autograd.grad(
        (out * probe).sum() + sum(s[0].sum() if kind == "lstm" else s.sum() for s in states), parameters
    )
    theirs = torch.autograd.grad(
        (value * probe).sum() + sum(s[0].sum() if kind == "lstm" else s.sum() for s in expected), parameters
    )
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b)


def test_generated_code_runs_a_chain_of_calls_as_one_and_equals_the_calls_in_turn():
    """`lstm -> lstm -> lstm(return = last)` is one `chain` statement in the forward; with and without
    a padding mask it computes what the stages called in turn compute. A stage that feeds another
    value too, or carries dropout, stays a call of its own."""
    source = check_spec(
        "model m {\n input x: [5, 6]\n x -> lstm(8) -> lstm(8) -> lstm(8, return = last) -> dense(2) as y\n"
        " output y\n}\n"
    ).source()
    assert "LSTMBlock.chain((self.lstm_1, self.lstm_2, self.lstm_3), x, x_mask)" in source
    model = spec_model("lstm(8) -> lstm(8) -> lstm(8, return = last)")
    stages = [model.get_submodule(name) for name, _ in model.named_children()]
    x, mask = torch.randn(3, 5, 6), torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 5])
    for given in (None, mask):
        value = x
        for stage in stages:
            value, _ = stage(value, mask=given)
        torch.testing.assert_close(model(x, x_mask=given), value)
    seen = []
    stages[0].register_forward_hook(lambda module, args, out: seen.append(out[0].shape))
    model(x)
    assert seen == [torch.Size([3, 5, 8])]  # a hooked stage is called as itself
    for body in (
        "x -> lstm(8) as a -> lstm(8) as b\n add(a, b) as y",  # a feeds b and the sum
        "x -> lstm(8, layers = 2, dropout = 0.1) -> lstm(8) as y",
    ):
        assert ".chain(" not in check_spec(f"model m {{\n input x: [5, 6]\n {body}\n output y\n}}\n").source()


def test_a_chain_refuses_stages_it_would_change():
    for pipeline in ("lstm(8) -> gru(8)", "lstm(8) -> lstm(4)", "lstm(8, layers = 2, dropout = 0.1) -> lstm(8)"):
        model = spec_model(pipeline)
        stages = [model.get_submodule(name) for name, _ in model.named_children()]
        with pytest.raises(ValueError, match="chain"):
            type(stages[0]).chain(stages, torch.randn(2, 3, 6))


def test_recurrent_layers_run_in_fp32_under_cpu_autocast():
    """oneDNN's bf16 LSTM needs AVX-512 BF16 (many CPUs lack it: `could not create a primitive
    descriptor`), so under CPU autocast the recurrent layers compute in fp32, chained or not."""
    model = spec_model("lstm(8) -> lstm(8) -> gru(8, return = last)")
    x = torch.randn(2, 5, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(x)
    torch.testing.assert_close(mixed, model(x))
