"""Property tests of the checker as a whole.

(a) Any text — valid specs with characters or tokens deleted, duplicated, swapped or inserted, or
    token soup — given to `check_spec` either checks or raises `SpecErrors`, never another
    exception, and every error it reports has a code and a span inside its file.
(b) Random valid pipelines of dense / relu / layernorm / dropout stages check, and the output shape
    the checker infers is the shape the generated module really returns.
"""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cramnet.blocks.dims import evaluate
from cramnet.compiler import check_spec
from cramnet.dsl.errors import SpecErrors

SEEDS = [
    """# a small MLP
let d = 16
let h = d * 2
model mlp {
    input x: [8]
    x -> dense(h) -> relu -> dropout(0.1)
      -> dense(d) -> layernorm as y
    output y
}
""",
    """block ffn(d, mult = 2, p = 0.1) {
    dense(d * mult) -> gelu -> dense(d) -> dropout(p)
}
block gated(d) {
    g = in -> dense(d) -> sigmoid
    u = in -> dense(d)
    mul(g, u)
}
model m {
    input x: [seq, 8]
    h = x -> residual { layernorm -> ffn(8) } * 2
    a = h -> gated(8)
    b = x -> dense(8)
    add(a, b) -> repeat 2 { relu -> dense(8) } as y
    concat(y, h, dim = -1) as z
    output y, z
}
""",
    """model conv {
    input image: [1, 16, 16]
    image
      -> conv2d(4, 3, pad = 1) -> batchnorm -> relu -> maxpool2d(2)
      -> parallel(merge = concat, dim = 0) {  # along the channels
            conv2d(2, 1) -> relu
          | conv2d(2, 3, pad = same)
        }
      -> flatten -> dense(10) as logits
    output logits
}
""",
    """use "std:resnet"
model r {
    input image: [3, 32, 32]
    image -> stem(8) -> basic(8) * 2 -> basic_down(16) -> adaptive_avgpool2d(1) -> flatten
      -> dense(10, bias = false) as logits
    output logits
}
""",
    """let n = 2
model t {
    input tok: tokens[seq]
    tok -> embed(50, 16) as e
    e -> (dense(16) -> relu) * (n + 1) -> moe(experts = 4, top_k = 2) { dense(16) -> relu }
      -> moe(top_k = 1) { relu | gelu | dense(16) } -> dense(50, bias = false, tie = e) as logits
    output logits
}
""",
    """let d = 32
block pre_ln(d, heads, hidden, causal = false) {
    residual { layernorm -> attention(heads, causal = causal) }
    residual { layernorm -> dense(hidden) -> gelu -> dense(d) }
}
model lm {
    input ids: tokens[seq]
    ids -> embed(100, d) as tok
      -> pos_embed(64)
      -> pre_ln(d, 4, 4 * d, causal = true) * 2
      -> lstm(d) -> layernorm
      -> dense(100, bias = false, tie = tok) as logits
    output logits
}
""",
]

TOKENS = [
    "->", "(", ")", "{", "}", "[", "]", "|", ",", "=", "*", ":", "//", "%", "/", "+", "-", "#", '"', "\\",
    "\n", "\t", " ", "0", "-1", "1.5", "1e-3", "1e999", "99", "x", "y", "in", "as", "dense", "relu", "model",
    "block", "let", "use", "input", "output", "residual", "repeat", "parallel", "moe", "tokens", "graph",
    "true", "false", "add", "concat", "seq", "none", "tie = x", "é", "\x00", '"std:resnet"', "0.0",
]  # fmt: skip

_PIECES = re.compile(r"\s+|\w+|->|//|.", re.S)


@st.composite
def mutated_specs(draw) -> str:
    """A seed spec with one to five random edits, by character or by token."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 5))):
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "delete-token", "swap-tokens"]))
        if edit in ("delete-token", "swap-tokens"):
            pieces = _PIECES.findall(text) or [""]
            i = draw(st.integers(0, len(pieces) - 1))
            if edit == "delete-token":
                del pieces[i]
            else:
                j = draw(st.integers(0, len(pieces) - 1))
                pieces[i], pieces[j] = pieces[j], pieces[i]
            text = "".join(pieces)
            continue
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(1, 8)))
        if edit == "delete":
            text = text[:i] + text[j:]
        elif edit == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif edit == "swap" and text:
            k = draw(st.integers(0, len(text) - 1))
            chars = list(text)
            chars[min(i, len(text) - 1)], chars[k] = chars[k], chars[min(i, len(text) - 1)]
            text = "".join(chars)
        else:
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
    return text


token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(lambda tokens: "model m {\n" + " ".join(tokens))


def assert_only_spec_errors(text: str) -> None:
    try:
        check_spec(text)
    except SpecErrors as failure:
        assert failure.errors, "SpecErrors without errors"
        for error in failure.errors:
            assert re.fullmatch(r"E\d{3}", error.code), error
            assert error.message, error
            if error.span is None:
                continue
            assert error.span.file in failure.sources, error
            lines = failure.sources[error.span.file].split("\n")  # lines as the lexer counts them
            assert 1 <= error.span.line <= len(lines), (error, len(lines))
            assert 1 <= error.span.col <= len(lines[error.span.line - 1]) + 1, error
        str(failure)  # rendering never fails either


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_mutated_specs_only_raise_spec_errors(text):
    assert_only_spec_errors(text)


@settings(max_examples=150, deadline=None)
@given(token_soup)
def test_token_soup_only_raises_spec_errors(text):
    assert_only_spec_errors(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60).map(lambda s: "model m {\n" + s + "\n}\n"))
def test_arbitrary_text_in_a_model_only_raises_spec_errors(text):
    assert_only_spec_errors(text)


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_the_seed_specs_check(seed):
    check_spec(SEEDS[seed])  # mutations of a spec that did not check would test nothing


# -- (b) inferred shapes are the real shapes ------------------------------------------------------


@st.composite
def pipelines(draw):
    """(source, input dims, sizes for symbols, expected output dims) for a random valid pipeline."""
    symbolic = draw(st.booleans())
    fixed = draw(st.lists(st.integers(1, 6), min_size=0, max_size=2))
    features = draw(st.integers(1, 16))
    dims = (["seq"] if symbolic else []) + [str(d) for d in fixed] + [str(features)]
    current = features
    stages = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["dense", "relu", "layernorm", "dropout", "residual"]))
        if kind == "dense":
            current = draw(st.integers(1, 16))
            bias = draw(st.sampled_from(["", ", bias = false", ", bias = true"]))
            count = draw(st.sampled_from(["", " * 2"]))
            stages.append(f"dense({current}{bias}){count}")
        elif kind == "relu":
            stages.append(draw(st.sampled_from(["relu", "relu()", "relu * 3"])))
        elif kind == "layernorm":
            stages.append(draw(st.sampled_from(["layernorm", "layernorm(eps = 1e-6)"])))
        elif kind == "dropout":
            p = draw(st.floats(0.0, 0.9, allow_nan=False))
            stages.append(f"dropout({p!r})")
        else:
            stages.append(f"residual {{ layernorm -> dense({current}) }}")
    arrows = [draw(st.sampled_from([" -> ", "\n      -> ", " ->\n      "])) for _ in stages]
    body = "x" + "".join(arrow + stage for arrow, stage in zip(arrows, stages))
    source = f"model random {{\n    input x: [{', '.join(dims)}]\n    {body} as y\n    output y\n}}\n"
    sizes = {"seq": draw(st.integers(1, 5))} if symbolic else {}
    expected = tuple(dims[:-1]) + (str(current),)
    return source, dims, sizes, expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines(), st.integers(1, 3))
def test_inferred_shape_is_the_real_output_shape(case, batch):
    source, dims, sizes, expected = case
    checked = check_spec(source)
    (inferred,) = checked.output_types.values()
    assert tuple(str(d) for d in inferred.dims) == expected, source

    module = checked.build(seed=0).eval()
    shape = [batch] + [sizes["seq"] if d == "seq" else int(d) for d in dims]
    with torch.no_grad():
        out = module(torch.randn(*shape))
    assert tuple(out.shape) == (batch, *(evaluate(d, sizes) for d in inferred.dims)), source
    assert torch.isfinite(out).all()
