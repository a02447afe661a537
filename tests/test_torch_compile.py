"""The generated forward is straight-line code: torch.compile traces it whole, with no graph break."""

import inspect
import sys

import pytest
import torch

from cramnet.compiler import check_spec, compile_spec
from cramnet.compiler.trial import random_inputs

from .test_specs import LAPTOP_SPECS


@pytest.mark.parametrize("spec", ["specs/resnet_digits.cram", "specs/mlp.cram"])
def test_dynamo_traces_the_generated_module_without_graph_breaks(spec):
    model = compile_spec(spec, seed=0).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # fullgraph: any break is an error
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.slow  # dynamo traces each spec: about two minutes in all on 2 cores
@pytest.mark.parametrize("spec", LAPTOP_SPECS)
def test_every_shipped_spec_compiles_and_computes_what_the_plain_module_does(spec):
    checked = check_spec(spec)
    model = checked.build(seed=0).eval()
    torch.manual_seed(0)
    inputs = random_inputs(checked, {}, batch=2, device=torch.device("cpu"))
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(*inputs), model(*inputs))


def test_generated_code_is_a_real_module():
    model = compile_spec("specs/gpt2.cram")
    module = sys.modules[type(model).__module__]
    assert "class Gpt2(nn.Module)" in inspect.getsource(module)
    assert type(compile_spec("specs/gpt2.cram")) is type(model)  # the same source is the same module
