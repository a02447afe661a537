"""The generated forward is straight-line code: torch.compile traces it whole, with no graph break."""

import pytest
import torch

from cramnet.compiler import compile_spec


@pytest.mark.parametrize("spec", ["specs/resnet_digits.cram", "specs/mlp.cram"])
def test_dynamo_traces_the_generated_module_without_graph_breaks(spec):
    model = compile_spec(spec, seed=0).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # fullgraph: any break is an error
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
