"""Mixtures of experts: routing, dispatch, the balance loss, heterogeneous experts, counts."""

import pytest
import torch

from cramnet.blocks.moe import MixtureOfExperts
from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors

HOMOGENEOUS = """
model m {{
    input x: [seq, 8]
    x -> moe(experts = 4, top_k = {k}) {{ dense(16) -> gelu -> dense(8) }} as y
    output y
}}
"""


def test_top_k_of_all_experts_is_the_dense_weighted_sum():
    model = compile_spec(HOMOGENEOUS.format(k=4), seed=0)
    moe = model.y
    x = torch.randn(3, 5, 8)
    tokens = x.reshape(-1, 8)
    weights = moe.router(tokens).softmax(-1)  # all experts chosen: softmax over all of them
    dense = sum(weights[:, e, None] * moe.experts[e](tokens) for e in range(4))
    torch.testing.assert_close(model(x), dense.reshape(3, 5, 8), rtol=1e-5, atol=1e-6)


def test_each_expert_runs_only_on_what_is_routed_to_it():
    model = compile_spec(HOMOGENEOUS.format(k=1), seed=0)
    model.y.dispatch = "loop"  # the per-expert loop, whose calls the hooks can see
    seen = []
    for expert in model.y.experts:
        expert.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    x = torch.randn(2, 7, 8)
    model(x)
    assert sum(seen) == 14  # every token once, in total, with top_k = 1
    chosen = model.y.router(x.reshape(-1, 8)).argmax(-1)
    assert sorted(seen) == sorted(int(c) for c in torch.bincount(chosen, minlength=4) if c > 0)


@pytest.mark.parametrize("k", [1, 2])
def test_grouped_dispatch_equals_the_per_expert_loop(k):
    model = compile_spec(HOMOGENEOUS.format(k=k), seed=0)
    assert model.y.paths == ("grouped_mm", "vmap", "loop")
    x = torch.randn(3, 9, 8, generator=torch.Generator().manual_seed(k)).requires_grad_()
    # an expert no token chose has a zero gradient in both paths (materialised, not missing)
    grads = torch.autograd.grad(model(x).square().sum(), [x, *model.parameters()], materialize_grads=True)
    grouped = model(x)
    model.y.dispatch = "loop"
    loop = model(x)
    torch.testing.assert_close(grouped, loop, rtol=1e-5, atol=1e-6)
    loop_grads = torch.autograd.grad(loop.square().sum(), [x, *model.parameters()], materialize_grads=True)
    for a, b in zip(grads, loop_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_balance_loss_matches_its_formula_by_hand():
    moe = MixtureOfExperts(2, [torch.nn.Identity(), torch.nn.Identity()], top_k=1)
    with torch.no_grad():
        moe.router.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    x = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]])  # tokens 1, 2 -> expert 0; token 3 -> expert 1
    moe(x)
    p = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]]).softmax(-1)
    fraction = torch.tensor([2 / 3, 1 / 3])
    torch.testing.assert_close(moe.aux_loss, 2 * (fraction * p.mean(0)).sum())
    moe.z_loss = 0.1
    moe(x)
    z = torch.logsumexp(x, dim=-1).square().mean()
    torch.testing.assert_close(moe.aux_loss, 2 * (fraction * p.mean(0)).sum() + 0.1 * z)


HETEROGENEOUS = """
use "std:transformer"
model m {
    input x: [seq, 8]
    x -> moe(top_k = 1) {
        lstm(8)
      | attention(2)
      | kan(8, grid = 3)
    } as y
    output y
}
"""


def test_heterogeneous_experts_route_examples_and_all_learn():
    checked = check_spec(HETEROGENEOUS)
    model = checked.build(seed=0)
    assert model.y.route == "example"  # the LSTM and attention experts mix positions
    torch.manual_seed(0)
    x = torch.randn(64, 6, 8)
    out = model(x)
    assert out.shape == (64, 6, 8)
    (out.square().mean() + model.aux_losses()["y"]).backward()
    chosen = torch.bincount(model.y.router(x.mean(1)).argmax(-1), minlength=3)
    for expert, count in zip(model.y.experts, chosen):
        grads = [p.grad for p in expert.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads) == (count > 0)
    assert all(chosen > 0)


def test_token_routing_with_a_mixing_expert_is_an_error():
    with pytest.raises(SpecErrors) as failure:
        check_spec(HETEROGENEOUS.replace("moe(top_k = 1)", "moe(top_k = 1, route = token)"))
    assert "route = example" in failure.value.errors[0].hint


def test_counts_and_the_mixtral_reference():
    checked = check_spec(HOMOGENEOUS.format(k=2))
    expert = 8 * 16 + 16 + 16 * 8 + 8
    assert checked.summary().params == 8 * 4 + 4 * expert
    assert sum(p.numel() for p in checked.build().parameters()) == checked.summary().params
    assert check_spec("specs/reference/mixtral_8x7b.cram").summary().params == 46_702_792_704


@pytest.mark.parametrize(
    "source, message",
    [
        ("moe(top_k = 2) { dense(8) }", "needs the number of experts"),
        ("moe(experts = 2, top_k = 3) { dense(8) }", "top_k = 3 is more than the 2 experts"),
        ("moe(experts = 3) { dense(8) | relu }", "experts = 3 but 2 bodies"),
        ("moe(top_k = 1) { dense(8) | dense(4) }", "outputs differ"),
        ("moe(route = tokens, experts = 2) { relu }", "'route' cannot be 'tokens'"),  # the ordinary binder
    ],
)
def test_moe_mistakes(source, message):
    with pytest.raises(SpecErrors) as failure:
        check_spec(f"model m {{\n input x: [8]\n x -> {source} as y\n output y\n}}\n")
    assert message in failure.value.errors[0].message
