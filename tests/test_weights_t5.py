"""Hugging Face T5 into std:t5 specs (cramnet.weights.t5): tiny random models saved as the hub saves
them, two layers per stack so that the relative position table's copies matter, compared output for
output; written back exactly, and refused where no Hugging Face T5 computes what the spec does."""

import json

import pytest
import torch

from cramnet.compiler import check_spec, compile_spec
from cramnet.train.errors import TrainError
from cramnet.weights import export_hf, freeze

transformers = pytest.importorskip("transformers")

HEAD = "hidden -> scale(0.17677669529663687) -> dense(100, bias = false, tie = tok) as logits"  # 32^-0.5


def t5_spec(head: str = HEAD, every_layer: bool = True) -> str:
    """T5 with two layers per stack; `every_layer`: each layer has its relative position table."""
    table = "buckets = 8, max_distance = 20, "
    rest = table if every_layer else ""
    outputs = "hidden, logits" if head else "hidden"
    return f"""
use "std:t5"
model tiny_t5 {{
    input src: tokens[n]
    input tgt: tokens[m]
    enc = src -> embed(100, 32) as tok
              -> t5_encoder_layer(32, 4, 64, {table}p = 0.0)
              -> t5_encoder_layer(32, 4, 64, {rest}p = 0.0) * 1
              -> rmsnorm
    tgt -> embed(100, 32, share = tok)
        -> t5_decoder_layer(32, 4, 64, memory = enc, {table}p = 0.0)
        -> t5_decoder_layer(32, 4, 64, memory = enc, {rest}p = 0.0) * 1
        -> rmsnorm as hidden
    {head}
    output {outputs}
}}
"""


def t5_config(**extra):
    return transformers.T5Config(
        vocab_size=100,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=20,
        dropout_rate=0.0,
        **extra,
    )


def saved(model, tmp_path, name="reference"):
    path = tmp_path / name
    model.save_pretrained(path)
    return path


def inputs():
    generator = torch.Generator().manual_seed(1)
    # 30 source and 25 target tokens: offsets past max_distance fall in the last buckets
    return torch.randint(0, 100, (2, 30), generator=generator), torch.randint(0, 100, (2, 25), generator=generator)


def test_t5_for_conditional_generation_with_deep_stacks(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(t5_config()).eval()
    ours = compile_spec(t5_spec(), weights=saved(reference, tmp_path)).eval()
    report = ours.weights_report
    assert report.family == "t5" and report.new == [] and report.unused == [] and report.notes == []
    # layer 0's table, copied into layer 1's (a copy: not one tensor that training would move as one)
    table = reference.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
    copies = [ours.t5_encoder_layer_1.attention_1, ours.t5_encoder_layer_2.attention_1]
    assert all(torch.equal(a.relative_bias.weight, table) for a in copies)
    assert copies[0].relative_bias.weight.data_ptr() != copies[1].relative_bias.weight.data_ptr()
    src, tgt = inputs()
    with torch.no_grad():
        hidden, logits = ours(src, tgt)
        expected = reference(input_ids=src, decoder_input_ids=tgt)
    torch.testing.assert_close(logits, expected.logits, rtol=1e-4, atol=1e-4)


def test_t5_model_without_a_head(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5Model(t5_config()).eval()
    ours = compile_spec(t5_spec(head=""), weights=saved(reference, tmp_path)).eval()
    assert ours.weights_report.new == [] and ours.weights_report.unused == []
    src, tgt = inputs()
    with torch.no_grad():
        expected = reference(input_ids=src, decoder_input_ids=tgt).last_hidden_state
        torch.testing.assert_close(ours(src, tgt), expected, rtol=1e-4, atol=1e-4)


def test_an_untied_head_reads_lm_head_and_takes_the_output_unscaled(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(t5_config(tie_word_embeddings=False)).eval()
    reference.lm_head.weight = torch.nn.Parameter(torch.randn(100, 32))  # T5 1.1's own head
    assert not reference.config.scale_decoder_outputs
    path = saved(reference, tmp_path)
    untied = "hidden -> dense(100, bias = false) as logits"
    ours = compile_spec(t5_spec(head=untied), weights=path).eval()
    assert ours.weights_report.new == [] and ours.weights_report.unused == [] and ours.weights_report.notes == []
    assert torch.equal(ours.logits.weight, reference.lm_head.weight)
    src, tgt = inputs()
    with torch.no_grad():
        torch.testing.assert_close(ours(src, tgt)[1], reference(input_ids=src, decoder_input_ids=tgt).logits)
    out, _, _ = export_hf(ours, check_spec(t5_spec(head=untied)), tmp_path / "exported")
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    again = compile_spec(t5_spec(head=untied), weights=out)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in ours.state_dict().items())
    scaled_spec = t5_spec(head=HEAD.replace(", tie = tok", ""))
    scaled = compile_spec(scaled_spec, weights=path)
    assert "the checkpoint's head takes the decoder's output unscaled" in scaled.weights_report.notes[0]
    with pytest.raises(TrainError, match="scales the decoder's output before a head tied to the token table"):
        export_hf(scaled, check_spec(scaled_spec), tmp_path / "refused")


def test_a_table_in_the_first_layer_only_is_noted_and_not_written_back(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(t5_config()).eval()
    spec = t5_spec(every_layer=False)  # specs/reference/t5_small.cram's layout: T5's parameters exactly
    ours = compile_spec(spec, weights=saved(reference, tmp_path))
    notes = ours.weights_report.notes
    assert len(notes) == 2 and "'t5_encoder_layer_2.attention_1'" in notes[0] and "has no table" in notes[0]
    assert ours.weights_report.unused == []
    with pytest.raises(TrainError, match="has no relative position table, but Hugging Face's T5 adds"):
        export_hf(ours, check_spec(spec), tmp_path / "out")


def test_export_round_trip_is_exact_and_hugging_face_reads_it(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(t5_config()).eval()
    spec = t5_spec()
    first = compile_spec(spec, weights=saved(reference, tmp_path))
    out, family, left_out = export_hf(first, check_spec(spec), tmp_path / "exported")
    assert family == "t5" and left_out == []
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["T5ForConditionalGeneration"] and config["relative_attention_num_buckets"] == 8
    second = compile_spec(spec, weights=out)
    assert second.weights_report.new == [] and second.weights_report.unused == []
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    again = transformers.T5ForConditionalGeneration.from_pretrained(out).eval()
    for key, value in reference.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_tables_fine_tuned_apart_are_refused_unless_frozen(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5Model(t5_config()).eval()
    spec = t5_spec(head="")
    checked = check_spec(spec)
    ours = compile_spec(spec, weights=saved(reference, tmp_path))
    frozen = freeze(ours, checked, ["*.relative_bias"])
    assert frozen == [k for k in ours.state_dict() if k.endswith("relative_bias.weight")] and len(frozen) == 4
    with torch.no_grad():
        ours.t5_decoder_layer_2.attention_1.relative_bias.weight[0, 0] += 0.5
    with pytest.raises(TrainError, match=r"'t5_decoder_layer_2.attention_1.relative_bias.weight' differs .* 0.5"):
        export_hf(ours, checked, tmp_path / "out")


def test_gated_feed_forward_and_a_decoder_table_of_its_own_are_refused(tmp_path):
    reference = transformers.T5Model(t5_config(feed_forward_proj="gated-gelu"))
    with pytest.raises(TrainError, match="feed-forward is 'gated-gelu'"):
        compile_spec(t5_spec(head=""), weights=saved(reference, tmp_path, "gated"))
    path = saved(transformers.T5Model(t5_config()), tmp_path)
    with pytest.raises(TrainError, match="a token table of its own"):
        compile_spec(t5_spec(head="").replace(", share = tok", ""), weights=path)


def test_t5_small_maps_onto_its_published_config():
    """Shapes only: a module on the meta device, mapped by the family's links."""
    from cramnet.weights.hf_export import fitting_family
    from cramnet.weights.structure import Structure

    checked = check_spec("specs/reference/t5_small.cram")
    with torch.device("meta"):
        expected = {k: v.shape for k, v in checked.build().state_dict().items()}
    family = fitting_family(checked, expected)
    assert family.NAME == "t5"
    written = family.hf_config(Structure(checked, expected))
    config = transformers.T5Config()  # the defaults are t5-small's
    for key, value in written.items():
        if key != "architectures" and hasattr(config, key):  # transformers 5 keeps token ids elsewhere
            assert getattr(config, key) == value, key


def test_t5_encoder_model_in_and_out(tmp_path):
    torch.manual_seed(0)
    reference = transformers.T5EncoderModel(t5_config()).eval()
    spec = """
use "std:t5"
model encoder {
    input src: tokens[n]
    src -> embed(100, 32) as tok -> t5_encoder_layer(32, 4, 64, buckets = 8, max_distance = 20, p = 0.0) * 2
        -> rmsnorm as hidden
    output hidden
}
"""
    ours = compile_spec(spec, weights=saved(reference, tmp_path)).eval()
    assert ours.weights_report.new == [] and ours.weights_report.unused == []
    src, _ = inputs()
    with torch.no_grad():
        torch.testing.assert_close(ours(src), reference(input_ids=src).last_hidden_state, rtol=1e-4, atol=1e-4)
    out, _, _ = export_hf(ours, check_spec(spec), tmp_path / "exported")
    assert json.loads((out / "config.json").read_text())["architectures"] == ["T5EncoderModel"]
    again = transformers.T5EncoderModel.from_pretrained(out)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


@pytest.mark.parametrize("cache", [True, False])
def test_generate_continues_through_the_encoder_as_hugging_face_generate(tmp_path, cache):
    from cramnet.train.generation import Sampling, generate

    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(t5_config(eos_token_id=None, decoder_start_token_id=0)).eval()
    path = saved(reference, tmp_path)
    spec = tmp_path / "tiny_t5.cram"
    spec.write_text(t5_spec())
    source = [5, 17, 42, 9, 3]
    expected = reference.generate(
        torch.tensor([source]), attention_mask=torch.ones(1, 5, dtype=torch.long), max_new_tokens=12, do_sample=False
    )[0].tolist()
    ours = generate(spec, prompt_ids=source, sampling=Sampling(tokens=12, greedy=True, cache=cache), weights=path)
    assert ours.ids == expected and ours.ids[0] == reference.config.decoder_start_token_id


def test_an_encoder_decoder_needs_its_decoder_start_token(tmp_path):
    from cramnet.train.generation import Sampling, generate

    path = saved(transformers.T5ForConditionalGeneration(t5_config()).eval(), tmp_path)
    for name in ("config.json", "generation_config.json"):
        assert json.loads((path / name).read_text()).get("decoder_start_token_id") is None
    spec = tmp_path / "tiny_t5.cram"
    spec.write_text(t5_spec())
    with pytest.raises(TrainError, match="gives a decoder_start_token_id"):
        generate(spec, prompt_ids=[5, 6], sampling=Sampling(tokens=2, greedy=True), weights=path)
