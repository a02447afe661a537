"""Decoding a few tokens at a time (blocks/decoding.py): a language model fed its sequence in pieces,
with its caches attached, computes the scores the whole sequence gives at once; generate takes that
path where every call has a step-by-step form and the whole-window path otherwise, with the same
tokens."""

from types import SimpleNamespace

import numpy
import pytest
import torch

from cramnet.blocks.decoding import Decoding, attach
from cramnet.compiler import check_spec
from cramnet.compiler.decoding import position_wise_tail, step_blocker
from cramnet.train.generation import Reading, Sampling, _next_scores, continue_ids, reading

LANGUAGE_MODEL = """
use "std:transformer"
use "std:ffn"
model lm {{
    input ids: tokens[seq]
    ids -> embed(40, 16) as tok {body} -> layernorm -> dense(40, bias = false, tie = tok) as logits
    output logits
}}
"""

BODIES = {
    "gpt2": "-> pos_embed(32) -> dropout(0.1) -> pre_ln(16, 4, 64, causal = true, p = 0.1, act = tanh) * 2",
    "llama": "-> llama_layer(16, 4, 48, kv_heads = 2) * 2",
    "sinusoidal": "-> pos_embed(kind = sinusoidal) -> post_ln(16, 2, 32, causal = true)",
    "relative_bias": "-> residual { rmsnorm -> attention(2, causal = true, scale = false, relative_bias = 8, "
    "max_distance = 12) } -> gelu",
    "shared": "-> pos_embed(32) -> pre_ln(16, 4, 32, causal = true) * 3 shared",
    "mixture": "-> residual { rmsnorm -> attention(4, causal = true, rope = true) } "
    "-> residual { rmsnorm -> moe(experts = 4, top_k = 2) { swiglu(16, 32) } }",
    "mamba": "-> residual { rmsnorm -> mamba(8, 2, 4) } * 2",
    "time_invariant_mamba": "-> residual { rmsnorm -> mamba(4, selective = false) }",
    "recurrent": "-> lstm(16) -> lstm(16) -> gru(16, layers = 2) -> rnn(16)",  # the two lstm calls: one chain
}


def language_model(body: str):
    return check_spec(LANGUAGE_MODEL.format(body=BODIES.get(body, body)))


def in_pieces(module, ids: torch.Tensor, pieces: list[int]) -> torch.Tensor:
    """The scores of `ids` computed `pieces[0]` positions, then `pieces[1]`, … at a time."""
    decoding, scores, start = Decoding(), [], 0
    with attach(module, decoding):
        for size in pieces:
            scores.append(module(ids[:, start : start + size]))
            decoding.advance(size)
            start += size
    return torch.cat(scores, dim=1)


@pytest.mark.parametrize("body", list(BODIES))
def test_a_sequence_fed_in_pieces_scores_as_the_whole_sequence(body):
    checked = language_model(body)
    assert step_blocker(checked.model) is None
    module = checked.build(seed=1).eval()
    ids = torch.randint(0, 40, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = module(ids)
        for pieces in ([20], [7, 1, 1, 1, 10], [1] * 20):
            torch.testing.assert_close(in_pieces(module, ids, pieces), whole, rtol=1e-4, atol=1e-5)
    assert all(m.decoding is None for m in module.modules() if hasattr(m, "decoding"))  # detached again


@pytest.mark.parametrize(
    ("body", "blocker"),
    [
        ("-> lstm(8, bidirectional = true)", "lstm"),  # reads the sequence backwards too
        ("-> attention(4)", "attention"),  # not causal
        ("-> pos_embed(32) -> residual { attention(4, causal = true) } -> softmax(dim = 0)", "softmax"),
    ],
)
def test_a_call_without_a_step_by_step_form_is_named(body, blocker):
    assert step_blocker(language_model(body).model).block == blocker


def _trained(checked, seed=1):
    return SimpleNamespace(module=checked.build(seed=seed).eval(), device=torch.device("cpu"), checked=checked)


def _window_lengths(module) -> list[int]:
    lengths = []
    module.register_forward_pre_hook(lambda _, inputs: lengths.append(inputs[0].shape[1]))
    return lengths


@pytest.mark.parametrize("body", ["gpt2", "llama", "mamba", "recurrent"])
def test_generate_reads_each_token_once_and_draws_what_recomputing_draws(body):
    trained = _trained(language_model(body))
    lengths = _window_lengths(trained.module)
    for greedy in (True, False):
        sampling = Sampling(tokens=12, greedy=greedy, seed=3)
        cached = continue_ids(trained, [5, 6, 7], sampling, None, 40, set())
        recomputed = continue_ids(trained, [5, 6, 7], Sampling(**vars(sampling) | {"cache": False}), None, 40, set())
        assert cached == recomputed and len(cached) == 15
    assert lengths[:12] == [3] + [1] * 11  # the prompt, then one new token per pass
    assert lengths[24:36] == [3] + [1] * 11


def test_past_the_context_the_window_slides_as_without_the_cache():
    trained = _trained(language_model("gpt2"))
    lengths = _window_lengths(trained.module)
    cached = continue_ids(trained, [1, 2, 3], Sampling(tokens=10, greedy=True), 8, 40, set())
    recomputed = continue_ids(trained, [1, 2, 3], Sampling(tokens=10, greedy=True, cache=False), 8, 40, set())
    assert cached == recomputed
    assert lengths[:10] == [3, 1, 1, 1, 1, 1, 8, 8, 8, 8]  # 8 tokens fit; then the last 8 each time


def test_a_model_without_a_step_by_step_form_recomputes_the_window():
    trained = _trained(language_model("-> lstm(8, bidirectional = true) -> pre_ln(16, 4, 32, causal = true)"))
    lengths = _window_lengths(trained.module)
    continue_ids(trained, [1, 2, 3], Sampling(tokens=4, greedy=True), None, 40, set())
    assert lengths == [3, 4, 5, 6]


def _output_lengths(module) -> list[int]:
    lengths = []
    module.register_forward_hook(lambda _, inputs, output: lengths.append(output.shape[1]))
    return lengths


@pytest.mark.parametrize(
    ("body", "tail", "head"),
    [
        ("gpt2", ["layernorm_1", "logits"], "layernorm_1"),
        ("mamba", ["layernorm_1", "logits"], "layernorm_1"),
        # a position embedding reads its place: the head alone gets the last position, not the ids
        ("-> pos_embed(32) -> gelu", ["pos_embed_1", "gelu_1", "layernorm_1", "logits"], "layernorm_1"),
    ],
)
def test_the_final_norm_and_head_score_the_last_position_alone(body, tail, head):
    checked = language_model(body)
    assert position_wise_tail(checked.model, "logits") == tail
    trained = _trained(checked)
    ids = [5, 6, 7, 1, 30, 2]
    with torch.no_grad():
        whole = trained.module(torch.tensor([ids]))[0]
    lengths = _output_lengths(trained.module.get_submodule(head))
    for cache in (True, False):
        scores = _next_scores(trained, None, cache, Reading("ids", 0, 40), None)
        with torch.no_grad():
            for end in range(3, len(ids) + 1):  # the prompt, then a token at a time
                torch.testing.assert_close(scores(ids[:end]), whole[end - 1], rtol=1e-4, atol=1e-5)
    assert lengths == [1] * 8


def test_a_tail_feeding_another_call_or_output_is_not_cut():
    checked = check_spec("""
model lm {
    input ids: tokens[seq]
    ids -> embed(40, 16) -> attention(4, causal = true) -> layernorm as h -> dense(40) as logits
    h -> dense(40) as other
    output logits, other
}
""")
    assert position_wise_tail(checked.model, "logits") == ["logits"]  # the norm feeds `other` too
    assert position_wise_tail(checked.model, "other") == ["other"]


ENCODER_DECODER = """
use "std:t5"
model translator {
    input src: tokens[n]
    input tgt: tokens[m]
    enc = src -> embed(40, 16) as tok -> t5_encoder_layer(16, 2, 32, buckets = 8, max_distance = 12) -> rmsnorm
    tgt -> embed(40, 16, share = tok) -> t5_decoder_layer(16, 2, 32, memory = enc, buckets = 8, max_distance = 12)
        -> t5_decoder_layer(16, 2, 32, memory = enc, buckets = 8, max_distance = 12) -> rmsnorm as hidden
    hidden -> dense(40, bias = false, tie = tok) as logits
    output hidden, logits
}
"""


def test_an_encoder_decoder_reads_the_whole_source_and_one_new_target_token_per_pass():
    checked = check_spec(ENCODER_DECODER)
    read = reading(checked, vocab=40)
    assert (read.decoded, read.source, read.output) == ("tgt", "src", 1)
    assert step_blocker(checked.model, "tgt") is None and step_blocker(checked.model, "src").block == "attention"
    trained = _trained(checked)
    lengths = []
    trained.module.register_forward_pre_hook(lambda _, inputs: lengths.append((inputs[0].shape[1], inputs[1].shape[1])))
    source = [3, 9, 27, 4, 11]
    for greedy in (True, False):
        sampling = Sampling(tokens=6, greedy=greedy, seed=1)
        cached = continue_ids(trained, [0], sampling, None, 40, set(), read, source)
        recomputed = continue_ids(
            trained, [0], Sampling(**vars(sampling) | {"cache": False}), None, 40, set(), read, source
        )
        assert cached == recomputed and len(cached) == 7
    assert lengths[:12] == [(5, 1)] * 6 + [(5, n) for n in range(1, 7)]
    encoder = trained.module.get_submodule(checked.module_path("t5_encoder_layer_1.attention_1"))
    cross = trained.module.get_submodule(checked.module_path("t5_decoder_layer_1.cross_attention_1"))
    computed = []
    encoder.q_proj.register_forward_hook(lambda *_: computed.append("encoder"))
    cross.k_proj.register_forward_hook(lambda *_: computed.append("memory"))
    continue_ids(trained, [0], Sampling(tokens=6, greedy=True), None, 40, set(), read, source)
    # the encoder read the source, and cross-attention projected it, on the first pass only
    assert computed == ["encoder", "memory"]
    assert "forward" not in vars(encoder)  # the encoder's own forward is back
    head = _output_lengths(trained.module.get_submodule(checked.module_path("hidden")))
    continue_ids(trained, [0, 4, 4], Sampling(tokens=3, greedy=True), None, 40, set(), read, source)
    assert head == [1, 1, 1]  # the final norm (and the head after it) read the last target position


def test_generate_from_a_run_trained_on_next_ids_names_the_command_that_reads_it(tmp_path):
    # ids and the next ids in an .npz make a token_classification run, not a language model with a tokenizer
    from typer.testing import CliRunner

    from cramnet.cli import app

    ids = torch.randint(0, 40, (32, 9), generator=torch.Generator().manual_seed(0))
    numpy.savez(tmp_path / "next.npz", ids=ids[:, :-1].numpy(), y=ids[:, 1:].numpy())
    (tmp_path / "lm.cram").write_text(LANGUAGE_MODEL.format(body=BODIES["llama"]))
    runner, run = CliRunner(), tmp_path / "run"
    trained = runner.invoke(
        app,
        ["train", str(tmp_path / "lm.cram"), "--data", str(tmp_path / "next.npz"), "--epochs", "1"]
        + ["--out", str(run), "--quiet", "--device", "cpu"],
    )
    assert trained.exit_code == 0, trained.output
    refused = runner.invoke(app, ["generate", str(run), "--prompt-ids", "1 2 3"])
    assert refused.exit_code == 1 and "is a token_classification run" in refused.output
    assert f"cramnet generate {run / 'spec.cram'} --weights {run}" in " ".join(refused.output.split())
    result = runner.invoke(app, ["generate", str(run / "spec.cram"), "--weights", str(run), "--prompt-ids", "1 2 3"])
    assert result.exit_code == 0 and len(result.stdout.split()) == 3 + 200, result.output
