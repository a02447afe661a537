"""The blocks of language version 2 (LANGUAGE.md §8): each against its plain-PyTorch formula or
torch.nn's module, with the weights copied; their errors located, with a hint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cramnet.blocks.attention import SelfAttention
from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors


def model(*body: str) -> str:
    return "model m {\n" + "\n".join("    " + line for line in body) + "\n}\n"


def only_error(source: str):
    with pytest.raises(SpecErrors) as caught:
        check_spec(source)
    (error,) = caught.value.errors
    return error


def one_block(input_type: str, call: str, seed: int = 0) -> nn.Module:
    return compile_spec(model(f"input x: {input_type}", f"x -> {call} as y", "output y"), seed=seed)


# -- broadcasting merges --------------------------------------------------------------------------


def test_squeeze_and_excitation_gate_broadcasts_over_the_image():
    source = model(
        "input x: [8, 5, 5]",
        "gate = x -> adaptive_avgpool2d(1) -> conv2d(8, 1) -> sigmoid",  # [8, 1, 1]
        "y = mul(x, gate)",
        "output y",
    )
    checked = check_spec(source)
    assert str(checked.output_types["y"]) == "[8, 5, 5]"
    net = checked.build(seed=0)
    x = torch.randn(2, 8, 5, 5)
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    gate = torch.sigmoid(conv(F.adaptive_avg_pool2d(x, 1)))
    torch.testing.assert_close(net(x), x * gate)


def test_a_lower_rank_value_lines_up_from_the_last_axis_not_with_the_batch():
    net = compile_spec(model("input x: [4, 8]", "input b: [8]", "y = add(x, b)", "z = sub(b, x)", "output y, z"))
    x, b = torch.randn(3, 4, 8), torch.randn(3, 8)
    y, z = net(x, b)
    torch.testing.assert_close(y, x + b[:, None])
    torch.testing.assert_close(z, b[:, None] - x)


def test_broadcasting_keeps_symbolic_sizes():
    checked = check_spec(model("input x: [seq, 8]", "input s: [1, 8]", "y = mul(x, s)", "output y"))
    assert str(checked.output_types["y"]) == "[seq, 8]"


def test_a_broadcast_mismatch_names_both_shapes_and_the_dimension():
    error = only_error(model("input x: [4, 8]", "input z: [4, 5]", "y = add(x, z)", "output y"))
    assert error.code == "E401" and (error.span.line, error.span.col) == (4, 9)
    assert "'x' is [4, 8]" in error.message and "'z' is [4, 5]" in error.message
    assert "dimension 1" in error.message and "8 and 5" in error.message
    assert "1" in error.hint
    error = only_error(model("input x: [seq, 8]", "input z: [n, 8]", "y = mul(x, z)", "output y"))
    assert "seq and n" in error.message


def test_sub_takes_exactly_two_values():
    error = only_error(model("input x: [4]", "y = sub(x, x, x)", "output y"))
    assert "exactly two" in error.message and error.hint == "write sub(a, b)"


# -- concat on images needs its axis --------------------------------------------------------------


def test_concat_of_images_without_dim_is_an_error_with_the_hint():
    error = only_error(model("input a: [2, 4, 4]", "input b: [3, 4, 4]", "y = concat(a, b)", "output y"))
    assert error.code == "E401" and "explicit dim" in error.message and "dim = 0" in error.hint
    error = only_error(model("input a: [2, 4, 4]", "a -> parallel(merge = concat) { relu | tanh } as y", "output y"))
    assert "explicit dim" in error.message and "dim = 0" in error.hint
    checked = check_spec(model("input a: [2, 4, 4]", "input b: [3, 4, 4]", "y = concat(a, b, dim = 0)", "output y"))
    assert str(checked.output_types["y"]) == "[5, 4, 4]"
    checked = check_spec(model("input a: [2, 4]", "input b: [2, 3]", "y = concat(a, b)", "output y"))
    assert str(checked.output_types["y"]) == "[2, 7]"  # vectors and sequences keep the last axis


# -- param ----------------------------------------------------------------------------------------


def test_param_is_one_learned_tensor_expanded_over_the_batch():
    source = model(
        "input ids: tokens[seq]", "lat = param([3, 4])", "temp = param([1], init = ones) -> exp", "output lat, temp"
    )
    checked = check_spec(source)
    assert checked.summary().params == 13
    net = checked.build(seed=0)
    lat, temp = net(torch.zeros(5, 7, dtype=torch.long))
    assert lat.shape == (5, 3, 4) and torch.equal(lat[0], lat[4])
    torch.testing.assert_close(temp, torch.full((5, 1), math.e))
    (learned,) = [p for p in net.parameters() if p.shape == (3, 4)]
    assert 0 < learned.std() < 0.1  # normal, std 0.02
    lat.sum().backward()
    torch.testing.assert_close(learned.grad, torch.full((3, 4), 5.0))


def test_param_starts_a_pipeline_in_a_block_body_too():
    source = "block latents(n, d) {\n    lat = param([n, d])\n    lat -> cross_attention(2, memory = in)\n}\n" + model(
        "input x: [6, 8]", "x -> dense(8) -> latents(3, 8) as y", "output y"
    )
    checked = check_spec(source)
    assert str(checked.output_types["y"]) == "[3, 8]"
    assert checked.build(seed=0)(torch.randn(4, 6, 8)).shape == (4, 3, 8)


def test_a_body_whose_last_line_binds_a_name_returns_that_value():
    # "the body's result is the value of its last line": it returned the body's input, the dense dead
    source = "block f(d) {\n    h = in -> dense(d)\n}\n" + model("input x: [4]", "x -> f(8) as y", "output y")
    checked = check_spec(source)
    assert str(checked.output_types["y"]) == "[8]" and checked.summary().params == 40
    residual = model("input x: [4]", "x -> residual { h = in -> dense(4) -> relu } as y", "output y")
    net = check_spec(residual).build(seed=0)
    x = torch.randn(3, 4)
    (dense,) = [m for m in net.modules() if isinstance(m, nn.Linear)]
    torch.testing.assert_close(net(x), x + torch.relu(dense(x)))


def test_param_cannot_follow_an_arrow():
    error = only_error(model("input x: [4]", "x -> param([4]) as y", "output y"))
    assert error.code == "E216" and "starts a pipeline" in error.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (("input g: graph[n, 4]", "lat = param([3])", "output lat"), "no batch axis"),
        (
            ("input x: [5, 8]", "x -> moe(experts = 2) { lat = param([5, 8])\n add(in, lat) } as y", "output y"),
            "moe expert",
        ),
        (("input x: [3]", "lat = param([3, 0])", "output lat"), "at least 1"),
    ],
)
def test_param_mistakes_are_located_errors(body, message):
    error = only_error(model(*body))
    assert error.span is not None and message in error.message


# -- element-wise ---------------------------------------------------------------------------------

ELEMENTWISE = {
    "neg": lambda x: -x,
    "abs": torch.abs,
    "exp": torch.exp,
    "scale(0.25)": lambda x: 0.25 * x,
    "l2norm": lambda x: x / x.norm(dim=-1, keepdim=True),
    "l2norm(dim = 0)": lambda x: x / x.norm(dim=1, keepdim=True),
    "softplus": nn.Softplus(),
    "hardswish": nn.Hardswish(),
    "mish": nn.Mish(),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
}


@pytest.mark.parametrize("call", ELEMENTWISE)
def test_elementwise_blocks_follow_their_formula(call):
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(one_block("[5, 8]", call)(x), ELEMENTWISE[call](x))


# -- axes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_reduce_over_axes(op):
    x = torch.randn(2, 3, 4, 5)
    reference = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin}[op]
    torch.testing.assert_close(one_block("[3, 4, 5]", f"reduce({op}, [1, 2])")(x), reference(x, dim=(2, 3)))
    kept = one_block("[3, 4, 5]", f"reduce({op}, -1, keep = true)")(x)
    torch.testing.assert_close(kept, reference(x, dim=3, keepdim=True))


@pytest.mark.parametrize(
    ("call", "index", "shape"),
    [
        ("slice(0, 1)", (slice(None), slice(1, None)), "[5, 8]"),
        ("slice(0, 0, -1)", (slice(None), slice(0, -1)), "[5, 8]"),
        ("slice(-1, 2, -2)", (slice(None), slice(None), slice(2, -2)), "[6, 4]"),
        ("slice(1, -3)", (slice(None), slice(None), slice(-3, None)), "[6, 3]"),
    ],
)
def test_slice_is_pythons(call, index, shape):
    x = torch.randn(2, 6, 8)
    y = one_block("[6, 8]", call)(x)
    torch.testing.assert_close(y, x[index])
    assert str(check_spec(model("input x: [6, 8]", f"x -> {call} as y", "output y")).output_types["y"]) == shape


def test_slice_bounds_are_checked_and_symbolic_sizes_kept():
    error = only_error(model("input x: [6, 8]", "x -> slice(0, 2, 9) as y", "output y"))
    assert error.code == "E401" and "size 6" in error.message
    error = only_error(model("input x: [6, 8]", "x -> slice(1, -9) as y", "output y"))
    assert "outside" in error.message
    checked = check_spec(model("input ids: tokens[seq]", "ids -> slice(0, 0, -1) as y", "output y"))
    assert str(checked.output_types["y"]) == "tokens[seq - 1]"  # ids stay ids: shifted targets


# -- normalisation over an axis -------------------------------------------------------------------


def test_layernorm_over_the_channels_is_layernorm2d():
    net = one_block("[6, 4, 5]", "layernorm(dim = 0)")
    reference = nn.LayerNorm(6)
    with torch.no_grad():
        reference.weight.normal_()
        reference.bias.normal_()
        net.y.weight.copy_(reference.weight)
        net.y.bias.copy_(reference.bias)
    x = torch.randn(2, 6, 4, 5)
    torch.testing.assert_close(net(x), reference(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def test_layernorm_parameters_follow_the_axis_and_bias():
    def params(input_type, call):
        return check_spec(model(f"input x: {input_type}", f"x -> {call} as y", "output y")).summary().params

    assert params("[96, 56, 56]", "layernorm") == 112  # the pitfall: the width, not the channels
    assert params("[96, 56, 56]", "layernorm(dim = 0)") == 192
    assert params("[7, 32]", "layernorm(bias = false)") == 32
    net = one_block("[7, 32]", "layernorm(bias = false)")
    assert net.y.bias is None


def test_layer_scale_multiplies_each_entry_of_its_axis():
    net = one_block("[6, 4, 5]", "layer_scale(dim = 0, init = 0.5)")
    with torch.no_grad():
        net.y.gamma.copy_(torch.arange(6.0))
    x = torch.randn(2, 6, 4, 5)
    torch.testing.assert_close(net(x), x * torch.arange(6.0)[:, None, None])
    assert one_block("[5, 8]", "layer_scale").y.gamma.eq(1e-6).all()


# -- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [5, 6, 7, 8, 13])
@pytest.mark.parametrize(("k", "stride", "pad"), [(2, 2, 0), (3, 2, 0), (3, 2, 1), (2, 3, 0)])
def test_pooling_with_ceil_matches_torch(size, k, stride, pad):
    call = f"maxpool2d({k}, stride = {stride}, pad = {pad}, ceil = true)"
    x = torch.randn(1, 2, size, size + 1)
    expected = nn.MaxPool2d(k, stride, pad, ceil_mode=True)(x)
    torch.testing.assert_close(one_block(f"[2, {size}, {size + 1}]", call)(x), expected)


def test_upsample_matches_nn_upsample():
    x = torch.randn(2, 3, 4, 5)
    for mode in ("nearest", "bilinear"):
        expected = nn.Upsample(scale_factor=2, mode=mode)(x)
        torch.testing.assert_close(one_block("[3, 4, 5]", f"upsample(2, mode = {mode})")(x), expected)
    error = only_error(model("input x: [3, 9]", "x -> upsample(2, mode = bilinear) as y", "output y"))
    assert "[C, H, W]" in error.message


def test_drop_path_drops_whole_examples_in_training_only():
    net = one_block("[4, 5]", "drop_path(0.5)")
    x = torch.randn(64, 4, 5)
    torch.testing.assert_close(net.eval()(x), x)
    torch.manual_seed(0)
    y = net.train()(x)
    torch.manual_seed(0)
    keep = torch.empty(64, 1, 1).bernoulli_(0.5)
    torch.testing.assert_close(y, x * keep / 0.5)
    assert 0 < keep.sum() < 64  # some examples dropped, some kept: per example, not per element


def test_patch_embed_without_bias():
    checked = check_spec(model("input x: [3, 8, 8]", "x -> patch_embed(4, 5, bias = false) as y", "output y"))
    assert checked.summary().params == 5 * 3 * 16
    assert checked.build(seed=0).y.bias is None


# -- T5 attention ---------------------------------------------------------------------------------


def t5_bucket(i: int, j: int, buckets: int, max_distance: int, bidirectional: bool) -> int:
    """Raffel et al. 2020's bucket of the offset j - i, from its description: in each half of the
    buckets (keys ahead / behind; one half when causal), half exact, the rest logarithmic to max_distance."""
    offset, n = 0, buckets
    if bidirectional:
        n //= 2
        offset = n if j > i else 0
        distance = abs(j - i)
    else:
        distance = max(i - j, 0)
    exact = n // 2
    if distance < exact:
        return offset + distance
    return offset + min(exact + int(math.log(distance / exact) / math.log(max_distance / exact) * (n - exact)), n - 1)


@pytest.mark.parametrize(("buckets", "max_distance"), [(32, 128), (8, 20), (6, 7)])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_buckets_follow_the_published_formula(buckets, max_distance, bidirectional):
    got = SelfAttention.relative_buckets(200, 200, buckets, max_distance, bidirectional)
    expected = torch.tensor(
        [[t5_bucket(i, j, buckets, max_distance, bidirectional) for j in range(200)] for i in range(200)]
    )
    assert torch.equal(got, expected)


def test_t5_buckets_at_known_offsets():
    buckets = SelfAttention.relative_buckets(300, 300, 32, 128, True)
    assert [buckets[0, 0], buckets[0, 1], buckets[1, 0], buckets[200, 0], buckets[0, 200]] == [0, 17, 1, 15, 31]


@pytest.mark.parametrize("causal", [False, True])
def test_t5_attention_is_unscaled_scores_plus_the_bucket_bias(causal):
    flag = "true" if causal else "false"
    net = one_block(
        "[6, 8]", f"attention(2, bias = false, scale = false, relative_bias = 8, max_distance = 16, causal = {flag})"
    )
    att = net.y
    assert att.relative_bias.weight.shape == (8, 2)
    x = torch.randn(3, 6, 8)
    q, k, v = (p(x).view(3, 6, 2, 4).transpose(1, 2) for p in (att.q_proj, att.k_proj, att.v_proj))
    table = torch.tensor([[t5_bucket(i, j, 8, 16, not causal) for j in range(6)] for i in range(6)])
    scores = q @ k.transpose(-1, -2) + att.relative_bias.weight[table].permute(2, 0, 1)
    if causal:
        scores = scores.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    expected = att.o_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(3, 6, 8))
    torch.testing.assert_close(net(x), expected)
    att.keep_weights = True  # the explicit path, for attention maps, agrees
    torch.testing.assert_close(net(x), expected)


def test_t5_attention_parameters_and_errors():
    checked = check_spec(
        model("input x: [6, 8]", "x -> attention(2, bias = false, relative_bias = 32) as y", "output y")
    )
    assert checked.summary().params == 4 * 8 * 8 + 32 * 2
    error = only_error(model("input x: [6, 8]", "x -> attention(2, relative_bias = 2) as y", "output y"))
    assert "too few buckets" in error.message


def test_the_new_modules_run_from_a_standalone_generated_file():
    source = model(
        "input x: [6, 4, 4]",
        "lat = param([6, 1, 1])",
        "h = x -> layernorm(dim = 0) -> layer_scale(dim = 0) -> drop_path(0.1)",
        "y = add(h, lat)",
        "output y",
    )
    checked = check_spec(source)
    namespace: dict = {}
    exec(compile(checked.source(standalone=True), "standalone.py", "exec"), namespace)  # imports only torch
    standalone = namespace["M"]()
    standalone.load_state_dict(checked.build(seed=0).state_dict())
    assert standalone(torch.randn(2, 6, 4, 4)).shape == (2, 6, 4, 4)


@pytest.mark.parametrize(
    "line", ["y = concat(h, h)", "y = h -> softmax", "y = h -> l2norm", "y = stack(h, h, dim = 1)"]
)
def test_axis_blocks_on_graph_values_have_no_batch_axis_to_skip(line):
    from cramnet.compiler.trial import random_inputs

    checked = check_spec(model("input g: graph[n, 4]", "h = g -> dense(4)", line, "output y"))
    net = checked.build(seed=0)
    (out,) = [net(*random_inputs(checked, {"n": 5}, batch=2, device=torch.device("cpu")))]
    assert out.shape[0] == 10 and out.shape[-1] in (4, 8)  # the two graphs' nodes stacked
