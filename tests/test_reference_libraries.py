"""Our specs against the reference libraries themselves — torchvision, Hugging Face transformers —
where they are installed (the GPU machine's image has both; without them these tests skip)."""

import pytest
import torch

from cramnet.compiler import check_spec, compile_spec

from .twins import copy_weights

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_equals_torchvision(name):
    torchvision = pytest.importorskip("torchvision")
    ours = compile_spec(f"specs/reference/{name}.cram", seed=0).to(DEVICE).eval()
    reference = getattr(torchvision.models, name)(weights=None).to(DEVICE).eval()
    assert parameters(ours) == parameters(reference)
    copy_weights(ours, reference)  # same tensors in the same order: the layouts agree one for one
    x = torch.randn(2, 3, 224, 224, device=DEVICE)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)


def test_vit_b16_count_equals_torchvision():
    torchvision = pytest.importorskip("torchvision")
    assert check_spec("specs/vit_b16.cram").summary().params == parameters(torchvision.models.vit_b_16())


SMALL_VIT = """
use "std:transformer"
model small_vit {
    input image: [3, 32, 32]
    image -> patch_embed(8, 32) -> cls_token -> pos_embed(17)
          -> pre_ln(32, 4, 64, eps = 1e-6) * 2
          -> layernorm(eps = 1e-6) -> pool(cls) -> dense(10) as logits
    output logits
}
"""


def test_vit_equals_torchvision_vision_transformer():
    vision_transformer = pytest.importorskip("torchvision.models.vision_transformer")
    reference = vision_transformer.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4,
                                                     hidden_dim=32, mlp_dim=64, num_classes=10).eval()
    ours = compile_spec(SMALL_VIT, seed=0).eval()
    assert parameters(ours) == parameters(reference)
    with torch.no_grad():
        reference.conv_proj.load_state_dict(ours.patch_embed_1.state_dict())
        reference.class_token.copy_(ours.cls_token_1.token)
        reference.encoder.pos_embedding.copy_(ours.pos_embed_1.weight[None])
        for i in range(2):
            layer, block = reference.encoder.layers[i], dict(ours.pre_ln[i].named_children())  # nested: pre_ln.i
            layer.ln_1.load_state_dict(block["layernorm_1"].state_dict())
            layer.ln_2.load_state_dict(block["layernorm_2"].state_dict())
            attention = block["attention_1"]
            layer.self_attention.in_proj_weight.copy_(torch.cat([attention.q_proj.weight, attention.k_proj.weight,
                                                                 attention.v_proj.weight]))
            layer.self_attention.in_proj_bias.copy_(torch.cat([attention.q_proj.bias, attention.k_proj.bias,
                                                               attention.v_proj.bias]))
            layer.self_attention.out_proj.load_state_dict(attention.o_proj.state_dict())
            layer.mlp[0].load_state_dict(block["dense_1"].state_dict())
            layer.mlp[3].load_state_dict(block["dense_2"].state_dict())
        reference.encoder.ln.load_state_dict(ours.layernorm_1.state_dict())
        reference.heads.head.load_state_dict(ours.logits.state_dict())
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)


def test_gpt2_count_equals_hugging_face():
    transformers = pytest.importorskip("transformers")
    reference = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    assert check_spec("specs/gpt2.cram").summary().params == parameters(reference) == 124_439_808


SMALL_GPT2 = """
use "std:transformer"
model small_gpt2 {
    input ids: tokens[seq]
    ids -> embed(100, 32) as tok -> pos_embed(16)
        -> pre_ln(32, 4, 128, causal = true, act = tanh) * 2
        -> layernorm -> dense(100, bias = false, tie = tok) as logits
    output logits
}
"""


def test_gpt2_equals_hugging_face_gpt2():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    reference = transformers.GPT2LMHeadModel(config).eval()
    ours = compile_spec(SMALL_GPT2, seed=0).eval()
    assert parameters(ours) == parameters(reference)
    with torch.no_grad():
        body = reference.transformer
        body.wte.weight.copy_(ours.tok.weight)
        body.wpe.weight.copy_(ours.pos_embed_1.weight)
        for i, layer in enumerate(body.h):
            block = dict(ours.pre_ln[i].named_children())  # the generated module nests: pre_ln.i.attention_1
            attention = block["attention_1"]
            layer.ln_1.load_state_dict(block["layernorm_1"].state_dict())
            layer.ln_2.load_state_dict(block["layernorm_2"].state_dict())
            # Hugging Face's Conv1D keeps weights as [in, out]: the transpose of nn.Linear's
            layer.attn.c_attn.weight.copy_(torch.cat([attention.q_proj.weight, attention.k_proj.weight,
                                                      attention.v_proj.weight]).t())
            layer.attn.c_attn.bias.copy_(torch.cat([attention.q_proj.bias, attention.k_proj.bias,
                                                    attention.v_proj.bias]))
            layer.attn.c_proj.weight.copy_(attention.o_proj.weight.t())
            layer.attn.c_proj.bias.copy_(attention.o_proj.bias)
            layer.mlp.c_fc.weight.copy_(block["dense_1"].weight.t())
            layer.mlp.c_fc.bias.copy_(block["dense_1"].bias)
            layer.mlp.c_proj.weight.copy_(block["dense_2"].weight.t())
            layer.mlp.c_proj.bias.copy_(block["dense_2"].bias)
        body.ln_f.load_state_dict(ours.layernorm_1.state_dict())
        ids = torch.randint(0, 100, (2, 12))
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=1e-4, atol=1e-4)
