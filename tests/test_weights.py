"""Published weights into specs (cramnet.weights): tiny random models of the reference libraries,
saved as the hub saves them, loaded through the real loading code, compared output for output."""

import json

import pytest
import torch
from safetensors.torch import save_file

from cramnet.compiler import check_spec, compile_spec
from cramnet.train.errors import TrainError
from cramnet.weights import build_with_weights, export_hf

transformers = pytest.importorskip("transformers")

GPT2 = """
use "std:transformer"
model small_gpt2 {
    input ids: tokens[seq]
    ids -> embed(100, 32) as tok -> pos_embed(16)
        -> pre_ln(32, 4, 128, causal = true, act = tanh) * 2
        -> layernorm -> dense(100, bias = false, tie = tok) as logits
    output logits
}
"""

BERT = """
use "std:transformer"
model small_bert {
    input ids: tokens[seq]
    ids -> embed(100, 32) -> pos_embed(20) -> layernorm(eps = 1e-12)
        -> post_ln(32, 4, 64, p = 0.0, eps = 1e-12) * 2 as hidden
    output hidden
}
"""

LLAMA = """
use "std:transformer"
model small_llama {
    input ids: tokens[seq]
    ids -> embed(100, 32) -> llama_layer(32, 4, 64, kv_heads = 2, eps = 1e-6) * 2
        -> rmsnorm(eps = 1e-6) -> dense(100, bias = false) as logits
    output logits
}
"""

MAMBA = """
model small_mamba {
    input ids: tokens[seq]
    ids -> embed(100, 32) as tok -> residual { rmsnorm(eps = 1e-5) -> mamba(8, 2, 4) } * 2
        -> rmsnorm(eps = 1e-5) -> dense(100, bias = false, tie = tok) as logits
    output logits
}
"""

VIT = """
use "std:transformer"
model small_vit {
    input image: [3, 32, 32]
    image -> patch_embed(8, 32) -> cls_token -> pos_embed(17)
          -> pre_ln(32, 4, 64, eps = 1e-12) * 2
          -> layernorm(eps = 1e-12) -> pool(cls) -> dense(10) as logits
    output logits
}
"""


def saved(model, tmp_path, name="reference"):
    path = tmp_path / name
    model.save_pretrained(path)
    return path


def gpt2_reference():
    config = transformers.GPT2Config(
        vocab_size=100, n_positions=16, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0
    )
    return transformers.GPT2LMHeadModel(config).eval()


def llama_reference():
    config = transformers.LlamaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, rms_norm_eps=1e-6,
    )
    return transformers.LlamaForCausalLM(config).eval()


def loaded(spec, path):
    module = compile_spec(spec, weights=path).eval()
    return module, module.weights_report


def largest_difference(a, b) -> float:
    return float((a - b).abs().max())


def test_gpt2_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    reference = gpt2_reference()
    ours, report = loaded(GPT2, saved(reference, tmp_path))
    assert report.family == "gpt2" and report.new == [] and report.unused == []
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=1e-4, atol=1e-4)


def test_bert_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=20, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    reference = transformers.BertModel(config).eval()
    ours, report = loaded(BERT, saved(reference, tmp_path))
    assert report.family == "bert" and report.new == []
    assert report.unused == ["pooler.dense.bias", "pooler.dense.weight"]  # no pooler in this spec
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).last_hidden_state, rtol=1e-4, atol=1e-4)


def test_llama_with_grouped_query_heads_and_rotary_positions(tmp_path):
    torch.manual_seed(0)
    reference = llama_reference()
    ours, report = loaded(LLAMA, saved(reference, tmp_path))
    assert report.family == "llama" and report.new == [] and report.unused == []
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=1e-4, atol=1e-4)


def test_mamba_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    config = transformers.MambaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, state_size=8)
    reference = transformers.MambaForCausalLM(config).eval()
    ours, report = loaded(MAMBA, saved(reference, tmp_path))
    assert report.family == "mamba" and report.new == [] and report.unused == []
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=1e-4, atol=1e-4)


def test_vit_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=10,
    )
    reference = transformers.ViTForImageClassification(config).eval()
    ours, report = loaded(VIT, saved(reference, tmp_path))
    assert report.family == "vit" and report.new == [] and report.unused == []
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(image), reference(image).logits, rtol=1e-4, atol=1e-4)
