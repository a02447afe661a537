"""Attention for biology: Evoformer-style axial attention and AttOmics-style feature groups."""

import math

import pytest
import torch

from cramnet.compiler import attention_maps, check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors

EVO = """
model evo {
    input msa: [rows, cols, 16]
    input pair: [cols, cols, 8]
    r = msa -> row_attention(4, bias = pair)
    c = msa -> column_attention(2, head_dim = 5)
    o = msa -> outer_product_mean(3, 8)
    t = pair -> triangle_update(6)
    i = pair -> triangle_update(6, mode = incoming)
    output r, c, o, t, i
}
"""


def gated_attention(module, m, bias=None):
    """Jumper et al. 2021, Algorithm 7/8, written directly with einsum over (lines n, positions i, j)."""
    m = module.norm(m)
    h, c = module.heads, module.head_dim
    q = module.q_proj(m).unflatten(-1, (h, c))
    k = module.k_proj(m).unflatten(-1, (h, c))
    v = module.v_proj(m).unflatten(-1, (h, c))
    logits = torch.einsum("bnihc,bnjhc->bnhij", q, k) / math.sqrt(c)
    if bias is not None:
        logits = logits + torch.einsum("bijz,hz->bhij", module.pair_norm(bias), module.pair_bias.weight)[:, None]
    a = logits.softmax(-1)
    o = torch.einsum("bnhij,bnjhc->bnihc", a, v).flatten(-2)
    return module.o_proj(torch.sigmoid(module.gate(m)) * o)


@pytest.fixture(scope="module")
def evo():
    model = compile_spec(EVO, seed=0)
    for p in model.parameters():  # move the gates off their initial zeros so they matter
        torch.nn.init.normal_(p, std=0.3)
    return model


def test_row_attention_with_pair_bias_equals_einsum(evo):
    msa, pair = torch.randn(2, 3, 5, 16), torch.randn(2, 5, 5, 8)
    torch.testing.assert_close(evo(msa, pair)[0], gated_attention(evo.r, msa, pair), rtol=1e-4, atol=1e-5)


def test_column_attention_attends_along_sequences(evo):
    msa, pair = torch.randn(2, 3, 5, 16), torch.randn(2, 5, 5, 8)
    expected = gated_attention(evo.c, msa.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(evo(msa, pair)[1], expected, rtol=1e-4, atol=1e-5)


def test_outer_product_mean_and_triangle_updates(evo):
    msa, pair = torch.randn(2, 3, 5, 16), torch.randn(2, 5, 5, 8)
    _, _, o, t, i = evo(msa, pair)
    m = evo.o.norm(msa)
    a, b = evo.o.a_proj(m), evo.o.b_proj(m)
    outer = torch.stack(
        [torch.stack([(a[:, :, p, :, None] * b[:, :, q, None, :]).mean(1) for q in range(5)], 1) for p in range(5)], 1
    )
    torch.testing.assert_close(o, evo.o.o_proj(outer.flatten(-2)), rtol=1e-4, atol=1e-5)
    for result, module, equation in ((t, evo.t, "bikc,bjkc->bijc"), (i, evo.i, "bkic,bkjc->bijc")):
        z = module.norm(pair)
        left = torch.sigmoid(module.a_gate(z)) * module.a_proj(z)
        right = torch.sigmoid(module.b_gate(z)) * module.b_proj(z)
        update = module.o_proj(module.out_norm(torch.einsum(equation, left, right)))
        torch.testing.assert_close(result, torch.sigmoid(module.gate(z)) * update, rtol=1e-4, atol=1e-5)


def test_axial_counts_follow_the_algorithms():
    summary = check_spec(EVO).summary()
    counts = {row.node: row.params for row in summary.rows}
    inner = 16
    assert counts["r"] == 2 * 16 + 3 * 16 * inner + (16 * inner + inner) + (inner * 16 + 16) + 2 * 8 + 8 * 4
    assert counts["c"] == 2 * 16 + 3 * 16 * 10 + (16 * 10 + 10) + (10 * 16 + 16)
    assert counts["o"] == 2 * 16 + 2 * (16 * 3 + 3) + 9 * 8 + 8
    model = compile_spec(EVO)
    for node in ("r", "c", "o", "t", "i"):
        assert counts[node] == sum(p.numel() for p in getattr(model, node).parameters())


def test_pair_bias_must_match_the_residues():
    bad = EVO.replace("input pair: [cols, cols, 8]", "input pair: [7, 7, 8]")
    with pytest.raises(SpecErrors) as failure:
        check_spec(bad)
    assert "must be [cols, cols, c]" in failure.value.errors[0].message


def test_axial_attention_maps_on_request(evo):
    msa, pair = torch.randn(1, 3, 5, 16), torch.randn(1, 5, 5, 8)
    with attention_maps(evo) as maps:
        evo(msa, pair)
    assert maps["r"].shape == (1, 3, 4, 5, 5) and maps["c"].shape == (1, 5, 2, 3, 3)
    torch.testing.assert_close(maps["r"].sum(-1), torch.ones(1, 3, 4, 5))


GROUPED = "model omics {\n    input x: [10]\n    x -> group(3, 2) as tokens\n    output tokens\n}\n"


def test_contiguous_groups_reach_their_tokens():
    model = compile_spec(GROUPED, seed=0)
    assert check_spec(GROUPED).summary().params == 10 * 2 + 3 * 2
    x = torch.zeros(1, 10)
    bias = model.tokens.bias.detach()
    for feature, token in ((0, 0), (3, 0), (4, 1), (6, 1), (7, 2), (9, 2)):  # sizes 4, 3, 3
        x.zero_()
        x[0, feature] = 1.0
        changed = (model(x)[0] - bias).abs().sum(-1) > 0
        assert changed.tolist() == [t == token for t in range(3)], (feature, token)


def test_groups_from_a_file(tmp_path):
    (tmp_path / "pathways.txt").write_text("# pathway: features\nglycolysis: 0 5 9\nTCA: 1, 2\n\nother: 3 4 6 7 8 0\n")
    spec = tmp_path / "omics.cram"
    spec.write_text(GROUPED.replace("group(3, 2)", 'group(3, 2, groups = "pathways.txt")'))
    checked = check_spec(spec)
    assert checked.summary().params == (3 + 2 + 6) * 2 + 3 * 2
    model = checked.build(seed=0)
    assert sum(p.numel() for p in model.parameters()) == checked.summary().params
    x = torch.randn(4, 10)
    start, expected = 0, []
    for t, members in enumerate([[0, 5, 9], [1, 2], [3, 4, 6, 7, 8, 0]]):
        weight = model.tokens.weight[start : start + len(members)]
        expected.append(x[:, members] @ weight + model.tokens.bias[t])
        start += len(members)
    torch.testing.assert_close(model(x), torch.stack(expected, 1))


def test_a_trailing_comma_in_a_groups_file_is_fine(tmp_path):
    (tmp_path / "g.txt").write_text("0, 1, 2,\n3 4 5\n6 7 8 9,\n")
    spec = tmp_path / "omics.cram"
    spec.write_text(GROUPED.replace("group(3, 2)", 'group(3, 2, groups = "g.txt")'))
    assert check_spec(spec).summary().params == 10 * 2 + 3 * 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("0 1\nempty:\n3\n", "line 2: the group is empty"),
        ("0 1\n2 x\n3\n", "line 2: item 2 is not a feature index"),
        ("0 1\n2\n", "has 2 groups but tokens = 3"),
        ("0 1\n2\n3 99\n", "feature 99 is out of range for 10 features"),
    ],
)
def test_bad_groups_files_are_clear_errors(tmp_path, content, message):
    (tmp_path / "g.txt").write_text(content)
    spec = tmp_path / "omics.cram"
    spec.write_text(GROUPED.replace("group(3, 2)", 'group(3, 2, groups = "g.txt")'))
    with pytest.raises(SpecErrors) as failure:
        check_spec(spec)
    assert message in failure.value.errors[0].message
    spec.write_text(GROUPED.replace("group(3, 2)", 'group(3, 2, groups = "missing.txt")'))
    with pytest.raises(SpecErrors) as failure:
        check_spec(spec)
    assert "cannot read the groups file" in failure.value.errors[0].message
