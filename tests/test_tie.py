"""Weight tying: `tie = name` shares one parameter, counted once, transposed as needed."""

import torch

from cramnet.compiler import check_spec, compile_spec

LM = """
model tiny_lm {
    input ids: tokens[seq]
    ids -> embed(50, 16) as tok -> layernorm -> dense(50, bias = false, tie = tok) as logits
    output logits
}
"""

AUTOENCODER = """
model tied_ae {
    input x: [32]
    x -> dense(8) as enc -> relu -> dense(32, tie = enc) as recon
    output recon
}
"""


def test_tied_head_shares_the_embedding_weight():
    checked = check_spec(LM)
    assert checked.summary().params == 50 * 16 + 2 * 16
    module = checked.build(seed=0)
    assert sum(p.numel() for p in module.parameters()) == 50 * 16 + 2 * 16
    logits = module(torch.randint(0, 50, (2, 7)))
    assert logits.shape == (2, 7, 50)
    logits.sum().backward()
    assert module.tok.weight.grad is not None  # reached both through the lookup and the head
    expected = (
        torch.nn.functional.layer_norm(
            module.tok(torch.tensor([[3]])), (16,), module.layernorm_1.weight, module.layernorm_1.bias
        )
        @ module.tok.weight.t()
    )
    torch.testing.assert_close(module(torch.tensor([[3]])), expected)


def test_tie_to_a_dense_is_transposed():
    module = compile_spec(AUTOENCODER, seed=0)
    assert sum(p.numel() for p in module.parameters()) == 32 * 8 + 8 + 32
    x = torch.randn(3, 32)
    expected = torch.relu(module.enc(x)) @ module.enc.weight + module.recon.bias
    torch.testing.assert_close(module(x), expected)


def test_tie_needs_a_matching_weight():
    source = AUTOENCODER.replace("dense(32, tie = enc)", "dense(16, tie = enc)")
    try:
        check_spec(source)
    except Exception as failure:
        (error,) = failure.errors
        assert error.code == "E401" and "[8, 32]" in error.message and "[16, 8]" in error.message
    else:
        raise AssertionError("a mismatched tie must be an error")


def test_tie_to_a_stage_without_weight_is_an_error():
    source = AUTOENCODER.replace("relu -> dense(32, tie = enc)", "relu as act -> dense(32, tie = act)")
    try:
        check_spec(source)
    except Exception as failure:
        (error,) = failure.errors
        assert error.code == "E401" and "has no weight" in error.message
    else:
        raise AssertionError("tying to a relu must be an error")
