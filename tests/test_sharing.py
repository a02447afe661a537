"""Weight sharing (LANGUAGE.md §8): `share = NAME`, `STAGE * N shared`, `repeat N shared { … }` —
one set of weights, counted once, one tensor in the state dict, and the same numbers as plain
PyTorch calling one module twice."""

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl import SpecErrors
from cramnet.dsl.format import format_spec

SIAMESE = """
block encoder(c) {
    conv2d(c, 3, pad = 1) -> relu -> adaptive_avgpool2d(1) -> flatten
}

model siamese {
    input left: [1, 8, 8]
    input right: [1, 8, 8]
    left -> encoder(4) as a
    right -> encoder(4, share = a) as b
    distance = add(a, b) -> dense(1) as same
    output same
}
"""


def test_a_shared_encoder_is_one_set_of_weights_called_twice():
    checked = check_spec(SIAMESE)
    model = checked.build(seed=0)
    assert checked.summary().params == (4 * 9 + 4) + (4 + 1)
    assert sum(p.numel() for p in model.parameters()) == checked.summary().params
    assert [k for k in model.state_dict() if k.startswith("encoder")] == [
        "encoder_1.conv2d_1.weight",
        "encoder_1.conv2d_1.bias",
    ]
    conv, head = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4, 1)
    with torch.no_grad():
        conv.weight.copy_(model.encoder_1.conv2d_1.weight), conv.bias.copy_(model.encoder_1.conv2d_1.bias)
        head.weight.copy_(model.same.weight), head.bias.copy_(model.same.bias)
    left, right = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)

    def encode(x):
        return torch.relu(conv(x)).mean((2, 3))

    expected = head(encode(left) + encode(right))
    torch.testing.assert_close(model(left, right), expected)
    model(left, right).sum().backward()  # one gradient, from both uses
    assert model.encoder_1.conv2d_1.weight.grad is not None


ALBERT = """
use "std:transformer"

model albert {
    input x: [seq, 16]
    x -> post_ln(16, 4, 32, p = 0.0) * 3 shared as y
    output y
}
"""


def test_a_shared_repeat_is_one_layer_applied_n_times():
    checked = check_spec(ALBERT)
    one_layer = check_spec(ALBERT.replace(" * 3 shared", "")).summary().params
    assert checked.summary().params == one_layer
    model = checked.build(seed=0).eval()
    assert "for _ in range(3):" in checked.source()
    assert {k.split(".")[1] for k in model.state_dict()} == {
        "attention_1",
        "layernorm_1",
        "dense_1",
        "dense_2",
        "layernorm_2",
    }
    x = torch.randn(2, 5, 16)
    layer = model.post_ln
    with torch.no_grad():
        torch.testing.assert_close(model(x), layer(layer(layer(x))))


def test_repeat_shared_and_a_shared_primitive():
    spec = """
    model m {
        input ids: tokens[seq]
        ids -> embed(50, 8) as tok
        other = ids -> embed(50, 8, share = tok)
        h = add(tok, other) -> repeat 4 shared { dense(8) -> tanh } as out
        output out
    }
    """
    checked = check_spec(spec)
    assert checked.summary().params == 50 * 8 + 8 * 8 + 8
    model = checked.build(seed=0)
    assert sorted(model.state_dict()) == ["layers.dense_1.bias", "layers.dense_1.weight", "tok.weight"]
    ids = torch.randint(0, 50, (2, 6))
    dense = model.layers.dense_1
    h = model.tok(ids) * 2
    with torch.no_grad():
        for _ in range(4):
            h = torch.tanh(dense(h))
        torch.testing.assert_close(model(ids), h)


@pytest.mark.parametrize(
    ("spec", "code", "line", "text"),
    [
        (
            "model m {\n input x: [4]\n x -> dense(8) as a\n y = x -> dense(9, share = a)\n output y\n}\n",
            "E231",
            4,
            "cannot use the weights of 'a'",
        ),
        (
            "model m {\n input x: [4]\n x -> dense(8) as a\n y = x -> relu(share = a)\n output y\n}\n",
            "E231",
            4,
            "relu call cannot use",
        ),
        ("model m {\n input x: [4]\n y = x -> dense(4, share = 3)\n output y\n}\n", "E230", 3, "expects the name"),
        (
            "model m {\n input x: [4]\n input z: [6]\n x -> dense(8) as a\n"
            " y = z -> dense(8, share = a)\n output y\n}\n",
            "E231",
            5,
            "its inputs differ",
        ),
        (
            "block f(d) {\n dense(d)\n}\nblock g(d) {\n dense(d)\n}\nmodel m {\n input x: [4]\n x -> f(4) as a\n"
            " y = x -> g(4, share = a)\n output y\n}\n",
            "E231",
            10,
            "this g call cannot use",
        ),
        ("model m {\n input x: [4]\n y = x -> dense(8) * 2 shared\n output y\n}\n", "E231", 3, "inputs differ"),
    ],
)
def test_sharing_mistakes_are_located(spec, code, line, text):
    with pytest.raises(SpecErrors) as failure:
        check_spec(spec)
    error = failure.value.errors[0]
    assert (error.code, error.span.line) == (code, line) and text in error.message, str(failure.value)


def test_shared_forms_survive_fmt_and_render(tmp_path):
    assert "* 3 shared as y" in format_spec(ALBERT)
    assert "repeat 2 shared {" in format_spec(
        "model m {\n input x: [4]\n x -> repeat 2 shared { relu } as y\n output y\n}\n"
    )
    spec = tmp_path / "siamese.cram"
    spec.write_text(SIAMESE)
    result = CliRunner().invoke(app, ["render", str(spec), "-o", str(tmp_path / "s.dot")])
    assert result.exit_code == 0, result.output
    assert "label=shared" in (tmp_path / "s.dot").read_text()  # the second encoder points at the first


def test_a_shared_model_trains_and_compiles(tmp_path):
    model = compile_spec(ALBERT, seed=0)
    compiled = torch.compile(model, backend="eager")
    x = torch.randn(2, 4, 16)
    torch.testing.assert_close(compiled(x), model(x))
