"""Every registered block, run on its example: the real output shape is the inferred one, the
parameter count is the module's, and nothing is NaN."""

import pytest
import torch

from cramnet.blocks import all_blocks
from cramnet.compiler import check_spec
from cramnet.compiler.trial import batched_shape, random_inputs


@pytest.mark.parametrize("name", sorted(all_blocks()))
def test_block_runs_as_declared(name):
    spec = all_blocks()[name]
    checked = check_spec(spec.example_spec())
    module = checked.build(seed=0)
    (inferred,) = checked.output_types.values()
    inputs = random_inputs(checked, {}, batch=3, device=torch.device("cpu"))
    for mode in ("eval", "train"):  # train last: its output carries every parameter's gradient
        module.train(mode == "train")
        out = module(*inputs)
        assert tuple(out.shape) == batched_shape(inferred, {}, batch=3), f"{name} in {mode}"
        assert not torch.isnan(out).any()
    summary = checked.summary()
    assert summary.params == sum(p.numel() for p in module.parameters())
    assert all(isinstance(row.flops, int) and row.flops >= 0 for row in summary.rows)
    if summary.params:
        losses = sum(module.aux_losses().values())  # a VAE latent's variance head learns through its KL
        (out.float().sum() + losses).backward()
        assert all(p.grad is not None for p in module.parameters())


def test_every_block_is_documented():
    for name, spec in all_blocks().items():
        assert spec.doc.strip(), name
        assert "Shapes:" in spec.doc, f"{name} has no Shapes: section"
        assert all(arg.doc for arg in spec.args), f"{name} has an undocumented argument"


def test_unknown_argument_kind_is_refused():
    from cramnet.blocks import Arg

    with pytest.raises(ValueError, match="kind must be one of"):
        Arg("x", "integer")
