"""The three ways a mixture runs its experts agree: grouped GEMMs over the sorted tokens, the vmapped
call over stacked weights, and the per-expert loop — outputs and gradients, empty experts included."""

import importlib.util
import sys

import pytest
import torch

from cramnet.compiler import check_spec, compile_spec

SPEC = """
use "std:ffn"
model m {{
    input x: [seq, 16]
    x -> moe(experts = 4, top_k = {k}) {{ {body} }} as y
    output y
}}
"""

BODIES = {
    "swiglu": "swiglu(16, 32)",  # no biases
    "ffn": "ffn(16, mult = 2)",  # biases, GELU, dropout
    "residual": "residual { dense(16) -> gelu } -> dense(24) -> softmax",
}


def build(body: str, k: int = 2):
    model = compile_spec(SPEC.format(k=k, body=body), seed=0).eval()
    with torch.no_grad():  # expert 0 scores far below the others on positive inputs: it gets no token
        model.y.router.weight[0] = -5.0
    return model


def positive_input(seed: int = 0) -> torch.Tensor:
    return (torch.rand(3, 9, 16, generator=torch.Generator().manual_seed(seed)) + 0.1).requires_grad_()


def run(model, path: str, x: torch.Tensor):
    model.y.dispatch = path
    out = model(x)
    grads = torch.autograd.grad(out.square().sum(), [x, *model.parameters()], materialize_grads=True)
    return out, grads


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("body", BODIES)
def test_grouped_gemms_equal_vmap_and_loop_with_an_empty_expert(body, k):
    model = build(BODIES[body], k)
    assert model.y.paths == ("grouped_mm", "vmap", "loop")
    x = positive_input(k)
    assert 0 not in model.y.router(x.reshape(-1, 16)).topk(k).indices  # expert 0 receives nothing
    grouped, grouped_grads = run(model, "grouped_mm", x)
    for path in ("vmap", "loop"):
        out, grads = run(model, path, x)
        torch.testing.assert_close(grouped, out, rtol=1e-5, atol=1e-5)
        for (name, _), a, b in zip([("x", x), *model.named_parameters()], grouped_grads, grads):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=f"{path}: gradient of {name}")
    for p in model.y.experts[0].parameters():  # an expert without tokens learns nothing
        assert grouped_grads[1 + [q is p for q in model.parameters()].index(True)].abs().max() == 0


def test_which_bodies_run_as_grouped_gemms():
    def paths(body, top="moe(experts = 3, top_k = 2)"):
        source = f'use "std:ffn"\nmodel m {{\n input x: [seq, 16]\n x -> {top} {{ {body} }} as y\n output y\n}}\n'
        return compile_spec(source, seed=0).y.paths

    assert paths("swiglu(16, 64)") == ("grouped_mm", "vmap", "loop")
    assert paths("dense(32) -> relu -> dropout(0.1) -> dense(16)") == ("grouped_mm", "vmap", "loop")
    assert paths("dense(32) -> layernorm -> dense(16)") == ("vmap", "loop")  # a norm's weights: vmapped
    assert paths("dense(32) -> batchnorm -> dense(16)") == ("loop",)  # running statistics: one by one
    assert paths("dense(16) | swiglu(16, 32)", "moe(top_k = 1)") == ("loop",)  # different bodies
    assert paths("lstm(16, return = last)", "moe(experts = 2)") == ("loop",)  # whole examples routed


def test_the_cpu_keeps_the_vmapped_call():
    model = build(BODIES["swiglu"])
    assert model.y.choose_path(torch.randn(4, 16)) == "vmap"
    model.y.dispatch = "grouped_mm"
    assert model.y.choose_path(torch.randn(4, 16)) == "grouped_mm"


def test_a_path_the_mixture_cannot_run_is_refused():
    model = build("dense(32) -> layernorm -> dense(16)")
    model.y.dispatch = "grouped_mm"
    with pytest.raises(ValueError, match="can run vmap, loop"):
        model(torch.randn(2, 3, 16))


def test_dropout_in_an_expert_trains_on_every_path():
    model = build(BODIES["ffn"]).train()  # the vmapped call refused random ops before ("randomness")
    x = positive_input()
    for path in model.y.paths:
        model.y.dispatch = path
        torch.manual_seed(0)
        out = model(x)
        model.eval()
        assert not torch.equal(out, model(x)), path  # some activations dropped
        model.train()
        out.sum().backward()


def test_grouped_gemms_under_autocast_give_float32_gradients():
    model = build(BODIES["swiglu"])
    x = positive_input()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        grouped, grouped_grads = run(model, "grouped_mm", x)
        vmapped, vmapped_grads = run(model, "vmap", x)
    assert grouped.dtype == vmapped.dtype
    torch.testing.assert_close(grouped, vmapped, rtol=2e-2, atol=2e-2)
    for a, b in zip(grouped_grads, vmapped_grads):
        assert a.dtype == b.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=5e-2, atol=5e-2)


def test_the_plan_adds_no_module_and_no_checkpoint_key():
    model = build(BODIES["swiglu"])
    assert not any("plan" in name for name, _ in model.named_modules())
    assert sorted(model.state_dict()) == sorted(name for name, _ in model.named_parameters())
    assert "y.experts.3.swiglu_1.dense_3.weight" in model.state_dict()


def test_an_exported_file_runs_grouped_gemms(tmp_path):
    checked = check_spec(SPEC.format(k=2, body=BODIES["swiglu"]))
    path = tmp_path / "exported_moe.py"
    path.write_text(checked.source())
    spec = importlib.util.spec_from_file_location("exported_moe", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["exported_moe"] = module  # fx reads a traced class's module
    try:
        spec.loader.exec_module(module)
        exported = module.M().eval()
    finally:
        del sys.modules["exported_moe"]
    model = build(BODIES["swiglu"])
    exported.load_state_dict(model.state_dict())
    assert exported.y.paths[0] == "grouped_mm"
    exported.y.dispatch = model.y.dispatch = "grouped_mm"
    x = positive_input()
    torch.testing.assert_close(exported(x), model(x))
