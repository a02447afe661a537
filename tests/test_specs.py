"""The shipped specs: published parameter counts, and every laptop-sized spec builds and trains a step."""

from pathlib import Path

import pytest
import torch

from cramnet.compiler import check_spec
from cramnet.compiler.trial import batched_shape, random_inputs

# Published counts: LeNet-5 (LeCun et al. 1998); torchvision resnet18, resnet50, vit_b_16,
# efficientnet_b0, convnext_tiny; Hugging Face GPT2LMHeadModel (gpt2, tied head); Llama-2-7B
# (Touvron et al. 2023).
PUBLISHED = {
    "specs/lenet5.cram": 61_706,
    "specs/reference/resnet18.cram": 11_689_512,
    "specs/reference/resnet50.cram": 25_557_032,
    "specs/reference/efficientnet_b0.cram": 5_288_548,
    "specs/reference/convnext_tiny.cram": 28_589_128,
    "specs/gpt2.cram": 124_439_808,
    "specs/vit_b16.cram": 86_567_656,
    "specs/reference/llama2_7b.cram": 6_738_415_616,
}

LARGE = 20_000_000  # parameters; a training step of a larger spec takes seconds on 2 cores


def _laptop_specs():
    root = Path(__file__).resolve().parent.parent / "specs"
    for path in sorted(p for p in root.rglob("*.cram") if "reference" not in p.relative_to(root).parts):
        large = check_spec(path).summary().params > LARGE
        yield pytest.param(str(path), id=str(path.relative_to(root)), marks=[pytest.mark.slow] if large else [])


LAPTOP_SPECS = list(_laptop_specs())


@pytest.mark.parametrize("spec", sorted(PUBLISHED))
def test_published_parameter_counts(spec):
    assert check_spec(spec).summary().params == PUBLISHED[spec]


def test_resnet18_flops_match_the_published_multiply_adds():
    # torchvision lists resnet18 at 1.81 GFLOPS counted as multiply-adds; we count a multiply-add as 2.
    flops = check_spec("specs/reference/resnet18.cram").summary().flops
    assert 3.60e9 < flops < 3.66e9


def test_reference_specs_summarise_without_weights(monkeypatch):
    """Counted, never allocated: no module is built (bench/targets.py times the summaries)."""

    def refuse(*args, **kwargs):
        raise AssertionError("summarising a spec built a module")

    monkeypatch.setattr(torch.nn.Module, "__init__", refuse)
    for spec in Path("specs/reference").glob("*.cram"):
        check_spec(spec).summary(batch=8)


@pytest.mark.parametrize("spec", LAPTOP_SPECS)
def test_laptop_spec_trains_one_step(spec):
    checked = check_spec(spec)
    module = checked.build(seed=0)
    assert sum(p.numel() for p in module.parameters()) == checked.summary().params
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
    inputs = random_inputs(checked, {}, batch=4, device=torch.device("cpu"))
    outputs = module(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    for output, expected in zip(outputs, checked.output_types.values()):
        assert tuple(output.shape) == batched_shape(expected, {}, batch=4)
    loss = sum(o.square().mean() for o in outputs)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
