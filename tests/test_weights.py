"""Published weights into specs (cramnet.weights): tiny random models of the reference libraries,
saved as the hub saves them, loaded through the real loading code, compared output for output."""

import json

import pytest
import torch
from safetensors.torch import save_file

from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors
from cramnet.train.errors import TrainError
from cramnet.weights import build_with_weights, export_hf, freeze

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

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
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        rms_norm_eps=1e-6,
    )
    return transformers.LlamaForCausalLM(config).eval()


def bert_reference():
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=20,
    )
    return transformers.BertModel(config).eval()


def mamba_reference():
    config = transformers.MambaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, state_size=8)
    return transformers.MambaForCausalLM(config).eval()


def vit_reference():
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=10,
    )
    return transformers.ViTForImageClassification(config).eval()


def loaded(spec, path):
    module = compile_spec(spec, weights=path).eval()
    return module, module.weights_report


def largest_difference(a, b) -> float:
    return float((a - b).abs().max())


def test_gpt2_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    reference = gpt2_reference()
    ours, report = loaded(GPT2, saved(reference, tmp_path))
    assert report.family == "gpt2" and report.new == [] and report.unused == [] and report.notes == []
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=1e-4, atol=1e-4)


def test_bert_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    reference = bert_reference()
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
    reference = mamba_reference()
    ours, report = loaded(MAMBA, saved(reference, tmp_path))
    assert report.family == "mamba" and report.new == [] and report.unused == []
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=1e-4, atol=1e-4)


def test_vit_from_hugging_face(tmp_path):
    torch.manual_seed(0)
    reference = vit_reference()
    ours, report = loaded(VIT, saved(reference, tmp_path))
    assert report.family == "vit" and report.new == [] and report.unused == []
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(image), reference(image).logits, rtol=1e-4, atol=1e-4)


def test_pyg_gcn_and_gat_state_dict(tmp_path):
    pyg = pytest.importorskip("torch_geometric")
    from torch_geometric import nn as gnn

    torch.manual_seed(0)

    class Net(torch.nn.Module):  # a PyG model as a user writes it
        def __init__(self):
            super().__init__()
            self.conv1 = gnn.GCNConv(8, 16)
            self.conv2 = gnn.GATConv(16, 4, heads=2)

        def forward(self, x, edge_index):
            return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    reference = Net().eval()
    for parameter in reference.parameters():  # PyG starts biases at zero: make them count
        torch.nn.init.normal_(parameter)
    path = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    spec = "model m {\n    input g: graph[n, 8]\n    g -> gcn(16) -> relu -> gat(4, heads = 2) as y\n    output y\n}\n"
    ours, report = loaded(spec, path)
    assert report.family == "pyg" and report.new == [] and report.unused == []
    generator = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 20, (2, 60), generator=generator)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    data = pyg.data.Data(x=torch.randn(20, 8, generator=generator), edge_index=edge_index)
    with torch.no_grad():
        torch.testing.assert_close(ours(data), reference(data.x, data.edge_index), rtol=1e-4, atol=1e-4)


def test_pyg_layers_in_order_and_of_the_same_kind(tmp_path):
    pytest.importorskip("torch_geometric")
    from torch_geometric import nn as gnn

    path = tmp_path / "conv.safetensors"
    save_file({k: v.contiguous() for k, v in gnn.GATConv(8, 4).state_dict().items()}, str(path))
    spec = "model m {\n    input g: graph[n, 8]\n    g -> gcn(4) as y\n    output y\n}\n"
    with pytest.raises(TrainError, match=r"'y' \(<spec>:3:10\) is a gcn layer but .* GATConv"):
        compile_spec(spec, weights=path)


FINE_TUNE = """
use "std:transformer"
model classifier {
    input ids: tokens[seq]
    ids -> embed(100, 32) as tok -> pos_embed(16)
        -> pre_ln(32, 4, 128, causal = true, act = tanh) * 2
        -> layernorm -> pool(mean) -> dense(3) as label
    output label
}
"""


def test_a_new_head_is_reported_new_and_the_trunk_loaded(tmp_path):
    reference = gpt2_reference()
    ours, report = loaded(FINE_TUNE, saved(reference, tmp_path))
    assert report.new == ["label.weight", "label.bias"] and report.unused == []
    assert len(report.loaded) == len(ours.state_dict()) - 2
    assert torch.equal(ours.tok.weight, reference.transformer.wte.weight)
    assert torch.equal(ours.pre_ln[1].attention_1.v_proj.bias, reference.transformer.h[1].attn.c_attn.bias[64:])
    assert ours.label.weight.is_meta is False
    assert "new (initialised)" in str(report.table().columns[0]._cells)


def test_a_mismatch_names_the_node_the_tensor_and_both_shapes(tmp_path):
    path = saved(gpt2_reference(), tmp_path)
    wider = GPT2.replace("pre_ln(32, 4, 128", "pre_ln(32, 4, 64")
    with pytest.raises(TrainError) as failure:
        compile_spec(wider, weights=path)
    message = str(failure.value)
    assert "'pre_ln_1.dense_1' (" in message and "transformer.cram:8:" in message
    assert "[64, 32]" in message and "'transformer.h.0.mlp.c_fc.weight' [32, 128]" in message
    deeper = GPT2.replace("* 2", "* 3")
    with pytest.raises(TrainError, match=r"'pre_ln_3.layernorm_1' .* needs the checkpoint tensor 'transformer.h.2"):
        compile_spec(deeper, weights=path)


def test_config_values_the_spec_does_not_share_are_noted(tmp_path):
    path = saved(gpt2_reference(), tmp_path)
    _, report = loaded(GPT2.replace(", act = tanh", "").replace("-> layernorm ->", "-> layernorm(eps = 1e-6) ->"), path)
    assert len(report.notes) == 2
    assert "GELU is approximate = tanh, 'pre_ln_1.gelu_1'" in report.notes[0]
    assert "layernorm ε is 1e-05, 'layernorm_1' (<spec>:7:12) has 1e-06" in report.notes[1]
    with pytest.raises(TrainError, match="no attention layers"):
        compile_spec(
            "model m {\n    input ids: tokens[seq]\n    ids -> embed(100, 32) as y\n    output y\n}\n", weights=path
        )


def test_a_shared_repeat_cannot_take_separate_layers(tmp_path):
    path = saved(gpt2_reference(), tmp_path)
    with pytest.raises(TrainError, match=r"'pre_ln_2.layernorm_1' .* uses the weights of 'pre_ln_1.layernorm_1'"):
        compile_spec(GPT2.replace("* 2", "* 2 shared"), weights=path)


def test_unknown_model_type_and_missing_paths_are_user_errors(tmp_path):
    with pytest.raises(TrainError, match="no such file"):
        compile_spec(GPT2, weights=tmp_path / "nowhere")
    path = saved(gpt2_reference(), tmp_path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": "bloom"}))
    with pytest.raises(TrainError, match="model_type 'bloom' has no mapping"):
        compile_spec(GPT2, weights=path)


def test_bf16_and_sharded_checkpoints_load(tmp_path):
    reference = llama_reference().to(torch.bfloat16)
    path = tmp_path / "sharded"
    reference.save_pretrained(path, max_shard_size="20KB")
    assert (path / "model.safetensors.index.json").exists()
    ours, report = loaded(LLAMA, path)
    assert report.dtypes == ["BF16"] and report.new == [] and report.unused == []
    assert ours.embed_1.weight.dtype == torch.float32
    assert torch.equal(ours.embed_1.weight, reference.model.embed_tokens.weight.float())


def test_a_single_safetensors_file_without_config(tmp_path):
    path = saved(llama_reference(), tmp_path) / "model.safetensors"
    _, report = loaded(LLAMA, path)
    assert report.family == "llama" and report.new == []


@pytest.mark.parametrize("spec,reference", [(GPT2, gpt2_reference), (LLAMA, llama_reference)])
def test_export_round_trip_is_exact(tmp_path, spec, reference):
    torch.manual_seed(0)
    model = reference()
    first, _ = loaded(spec, saved(model, tmp_path))
    out, family, left_out = export_hf(first, check_spec(spec), tmp_path / "exported")
    assert left_out == []
    second, report = loaded(spec, out)
    assert report.new == [] and report.unused == []
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    again = type(model).from_pretrained(out).eval()  # and Hugging Face reads what we wrote
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_meta_build_takes_the_checkpoint_tensors(tmp_path):
    path = saved(llama_reference(), tmp_path)
    module, report = build_with_weights(check_spec(LLAMA), path)
    assert not any(t.is_meta for t in module.state_dict().values()) and report.new == []


def test_freeze_on_a_block_call_and_by_name():
    spec = GPT2.replace("pos_embed(16)", "pos_embed(16, freeze = true)").replace(
        "act = tanh) * 2", "act = tanh, freeze = true) * 2"
    )
    module = compile_spec(spec)
    frozen = {k for k, p in module.named_parameters() if not p.requires_grad}
    assert frozen == {k for k, _ in module.named_parameters() if k.startswith(("pos_embed_1.", "pre_ln."))}
    with pytest.raises(SpecErrors, match="freeze: expects true or false"):
        compile_spec(GPT2.replace("pos_embed(16)", "pos_embed(16, freeze = 3)"))
    checked = check_spec(GPT2)
    module = checked.build()
    assert freeze(module, checked, ["tok", "pre_ln.1"]) == ["tok.weight"] + [
        k for k, _ in module.named_parameters() if k.startswith("pre_ln.1.")
    ]
    with pytest.raises(TrainError, match="no node or module"):
        freeze(module, checked, ["nothing_here"])


def test_fine_tune_a_new_head_through_the_command_line(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app
    from cramnet.train.inference import load_run

    torch.manual_seed(0)
    reference = gpt2_reference()
    checkpoint = saved(reference, tmp_path)
    spec = tmp_path / "classifier.cram"
    spec.write_text(FINE_TUNE)
    generator = np.random.default_rng(0)
    ids = generator.integers(0, 100, (64, 12))
    np.savez(tmp_path / "data.npz", ids=ids, y=(ids[:, 0] % 3))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", str(spec), "--init-from", str(checkpoint), "--data", str(tmp_path / "data.npz"),
            "--epochs", "1", "--freeze", "tok", "--set", "optimizer.new_lr=0.01", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "loaded" in result.output and "new (initialised)" in result.output and "label.weight" in result.output
    trained = load_run(out)
    assert torch.equal(trained.module.tok.weight, reference.transformer.wte.weight)  # frozen
    assert not torch.equal(trained.module.pre_ln[0].dense_1.bias, reference.transformer.h[0].mlp.c_fc.bias)
    again, report = loaded(FINE_TUNE, out)  # a run is a checkpoint too, in the spec's own layout
    assert report.family == "cramnet" and report.new == [] and report.unused == []
    assert torch.equal(again.label.weight, trained.module.label.weight)
    with pytest.raises(TrainError, match=r"'label' \(<spec>:7:39\): 'label.weight' is \[5, 32\]"):
        compile_spec(FINE_TUNE.replace("dense(3)", "dense(5)"), weights=out)
    exported = CliRunner().invoke(app, ["export", str(out), "--format", "hf", "-o", str(tmp_path / "hf")])
    assert exported.exit_code == 0 and "left out" in exported.output and "label.weight" in exported.output
    data = ["--data", str(tmp_path / "data.npz"), "--epochs", "1"]
    failed = CliRunner().invoke(app, ["train", str(spec), "--init-from", str(tmp_path / "none"), *data])
    assert failed.exit_code == 1 and "no such file" in failed.output and "Traceback" not in failed.output


def test_export_a_run_or_a_spec_with_weights_as_hugging_face(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    torch.manual_seed(0)
    reference = gpt2_reference()
    checkpoint = saved(reference, tmp_path)
    spec = tmp_path / "small_gpt2.cram"
    spec.write_text(GPT2)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["export", str(spec), "--weights", str(checkpoint), "--format", "hf", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Hugging Face gpt2" in result.output
    again = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    for key, value in reference.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    bare = "model m {\n    input x: [4]\n    x -> dense(2) as y\n    output y\n}\n"
    (tmp_path / "bare.cram").write_text(bare)
    result = CliRunner().invoke(app, ["export", str(tmp_path / "bare.cram"), "--format", "hf", "-o", str(out)])
    assert result.exit_code == 1 and "has no Hugging Face layout" in result.output


def test_pyg_gin_and_cheb_state_dicts(tmp_path):
    pyg = pytest.importorskip("torch_geometric")
    from torch_geometric import nn as gnn

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16))
    convs = torch.nn.ModuleList([gnn.GINConv(mlp), gnn.ChebConv(16, 4, K=3)]).eval()
    for parameter in convs.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    path = tmp_path / "convs.safetensors"
    save_file({k: v.contiguous() for k, v in convs.state_dict().items()}, str(path))
    spec = "model m {\n    input g: graph[n, 8]\n    g -> gin(16) -> cheb(4, 3) as y\n    output y\n}\n"
    ours, report = loaded(spec, path)
    assert report.new == [] and report.unused == []
    generator = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 20, (2, 60), generator=generator)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    data = pyg.data.Data(x=torch.randn(20, 8, generator=generator), edge_index=edge_index)
    with torch.no_grad():
        expected = convs[1](convs[0](data.x, data.edge_index), data.edge_index)
        torch.testing.assert_close(ours(data), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec,reference", [(BERT, bert_reference), (MAMBA, mamba_reference), (VIT, vit_reference)])
def test_export_round_trip_of_the_other_families(tmp_path, spec, reference):
    torch.manual_seed(0)
    first, _ = loaded(spec, saved(reference(), tmp_path))
    out, _, left_out = export_hf(first, check_spec(spec), tmp_path / "exported")
    second, report = loaded(spec, out)
    assert left_out == [] and report.new == [] and report.unused == []
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key


@pytest.mark.parametrize(
    "path,family,config",
    [
        ("specs/gpt2.cram", "gpt2", transformers.GPT2Config()),
        # LlamaConfig's defaults are Llama-2-7B's, but for ε: the published config.json says 1e-5
        ("specs/reference/llama2_7b.cram", "llama", transformers.LlamaConfig(rms_norm_eps=1e-5)),
        ("specs/reference/mamba_130m.cram", "mamba", transformers.MambaConfig(vocab_size=50280, num_hidden_layers=24)),
    ],
)
def test_reference_specs_map_onto_their_published_configs(path, family, config):
    """Shapes only: a module on the meta device (no memory), mapped by the family's links."""
    from cramnet.weights.hf_export import fitting_family
    from cramnet.weights.structure import Structure

    checked = check_spec(path)
    with torch.device("meta"):
        expected = {k: v.shape for k, v in checked.build().state_dict().items()}
    found = fitting_family(checked, expected)
    assert found.NAME == family
    written = found.hf_config(Structure(checked, expected))
    for key, value in written.items():
        if key not in ("architectures", "torch_dtype", "rope_theta") and hasattr(config, key):
            assert getattr(config, key) == value or getattr(config, key) is None, key


def test_predict_evaluate_and_probe_a_spec_with_published_weights(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    torch.manual_seed(0)
    reference = vit_reference()
    checkpoint = saved(reference, tmp_path)
    spec = tmp_path / "small_vit.cram"
    spec.write_text(VIT)
    images = torch.randn(40, 3, 32, 32)
    np.savez(tmp_path / "images.npz", image=images.numpy(), y=np.arange(40) % 10)
    weights = ["--weights", str(checkpoint)]
    result = CliRunner().invoke(app, ["predict", str(spec), str(tmp_path / "images.npz"), *weights])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "images.npz.predictions.csv").read_text().splitlines()[1:]
    with torch.no_grad():
        expected = reference(images).logits.argmax(-1).tolist()
    assert [int(row.split(",")[0]) for row in rows] == expected
    result = CliRunner().invoke(app, ["evaluate", str(spec), "--data", str(tmp_path / "images.npz"), *weights])
    assert result.exit_code == 0 and "test_accuracy" in result.output, result.output
    node = ["--node", "pre_ln_2.attention_1", "--data", str(tmp_path / "images.npz")]
    result = CliRunner().invoke(app, ["probe", str(spec), *node, *weights])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "probes").is_dir()
    result = CliRunner().invoke(app, ["predict", str(spec), str(tmp_path / "images.npz")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_export_of_a_run_refuses_weights_it_would_ignore(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    run = tmp_path / "run"
    run.mkdir()
    result = CliRunner().invoke(app, ["export", str(run), "--weights", str(tmp_path), "-o", str(tmp_path / "m.py")])
    assert result.exit_code == 1 and "is a run directory" in result.output, result.output


def test_a_malformed_hugging_face_directory_is_a_clear_error(tmp_path):
    from cramnet.train.errors import TrainError
    from cramnet.weights.checkpoint import open_checkpoint

    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(TrainError, match="not a model config"):
        open_checkpoint(tmp_path)
    (tmp_path / "config.json").write_bytes(b"\xe9")
    with pytest.raises(TrainError, match="not a model config"):
        open_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors.index.json").write_text('{"weight_map": []}')
    with pytest.raises(TrainError, match="not a safetensors index"):
        open_checkpoint(tmp_path)


def test_freeze_a_block_instance_and_refuse_a_node_without_parameters(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    checked = check_spec(GPT2)
    module = checked.build()
    first_layer = [k for k, _ in module.named_parameters() if k.startswith("pre_ln.0.")]
    assert freeze(module, checked, ["pre_ln_1"]) == first_layer
    spec = tmp_path / "gpt2.cram"
    spec.write_text(GPT2.replace("pos_embed(16)", "pos_embed(16) -> dropout(0.1)"))
    np.savez(tmp_path / "data.npz", ids=np.zeros((8, 12), dtype=np.int64), y=np.zeros((8, 12), dtype=np.int64))
    for node in ("dropout_1", "logits"):  # a dropout, and a head tied to the token table
        result = CliRunner().invoke(app, ["train", str(spec), "--data", str(tmp_path / "data.npz"), "--freeze", node])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert f"'{node}' has no parameters of its own to freeze" in result.output, result.output
        assert "did you mean" not in result.output


def test_a_model_with_nothing_to_train_is_refused_before_its_run_directory(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    np.savez(tmp_path / "data.npz", x=np.zeros((8, 4), dtype=np.float32), y=np.arange(8) % 3)
    data = ["--data", str(tmp_path / "data.npz"), "--epochs", "1"]
    cases = [
        ("x -> dense(3) as y", ["--freeze", "*"], "every parameter of the model is frozen (--freeze *"),
        ("x -> dense(3, freeze = true) as y", [], "frozen (`freeze = true` in the spec)"),
        ("x -> relu -> dense(3, freeze = true) as y", ["--freeze", "y"], "--freeze y and any `freeze = true`"),
        ("x -> relu as y", [], "the model has no parameters"),
    ]
    for i, (body, flags, message) in enumerate(cases):
        spec = tmp_path / f"m{i}.cram"
        spec.write_text(f"model m {{\n    input x: [4]\n    {body}\n    output y\n}}\n")
        out = tmp_path / f"run{i}"
        result = CliRunner().invoke(app, ["train", str(spec), *data, *flags, "--out", str(out)])
        assert result.exit_code == 1 and message in result.output, result.output
        assert "internal error" not in result.output and not out.exists()


def test_resume_refuses_init_from_rather_than_ignore_and_record_it(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    spec = tmp_path / "m.cram"
    spec.write_text("model m {\n    input x: [4]\n    x -> dense(3) as y\n    output y\n}\n")
    np.savez(tmp_path / "data.npz", x=np.zeros((8, 4), dtype=np.float32), y=np.arange(8) % 3)
    run = tmp_path / "run"
    first = ["train", str(spec), "--data", str(tmp_path / "data.npz"), "--epochs", "1", "--out", str(run), "-q"]
    assert CliRunner().invoke(app, first).exit_code == 0
    config = (run / "config.yaml").read_text()
    for flag in (["--init-from", str(run)], ["--set", f"init_from={run}"]):
        result = CliRunner().invoke(app, ["train", "--resume", str(run), "--epochs", "2", *flag])
        assert result.exit_code == 1 and "--resume continues" in result.output, result.output
        assert (run / "config.yaml").read_text() == config


@pytest.mark.parametrize("spec,reference", [(GPT2, gpt2_reference), (MAMBA, mamba_reference)])
def test_an_untied_head_is_written_back_untied(tmp_path, spec, reference):
    torch.manual_seed(0)
    model = reference()
    untied = spec.replace(", tie = tok", "")
    ours, _ = loaded(untied, saved(model, tmp_path))
    with torch.no_grad():
        ours.logits.weight.add_(torch.randn_like(ours.logits.weight))  # fine-tuned apart from the table
    out, _, left_out = export_hf(ours, check_spec(untied), tmp_path / "exported")
    assert left_out == [] and json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    again = type(model).from_pretrained(out).eval()
    assert torch.equal(again.lm_head.weight, ours.logits.weight)
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, ours(ids), rtol=1e-4, atol=1e-4)


def test_a_pickled_or_damaged_checkpoint_is_refused_with_what_to_do(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    spec = tmp_path / "small_gpt2.cram"
    spec.write_text(GPT2)
    path = saved(gpt2_reference(), tmp_path)
    pickled = tmp_path / "pytorch_model.bin"
    pickled.write_bytes(b"\x80\x02cos\nsystem\n(S'touch " + str(tmp_path / "ran").encode() + b"'\ntR.")
    whole = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    cases = [
        (pickled, "a pickled PyTorch file; cramnet never reads pickles", "save_pretrained"),
        (path, "not a readable safetensors file", "damaged or was cut short"),
    ]
    np.savez(tmp_path / "ids.npz", ids=np.zeros((2, 12), dtype=np.int64))
    for weights, message, hint in cases:
        result = CliRunner().invoke(app, ["predict", str(spec), str(tmp_path / "ids.npz"), "--weights", str(weights)])
        assert result.exit_code == 1 and message in result.output and hint in result.output, result.output
    assert not (tmp_path / "ran").exists()


def test_commands_on_a_spec_with_weights_tell_what_was_loaded_and_left_unused(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    path = saved(gpt2_reference(), tmp_path)
    shallow = tmp_path / "shallow.cram"  # one layer of the checkpoint's two: layer 1 goes unused
    shallow.write_text(GPT2.replace("* 2", "* 1"))
    np.savez(tmp_path / "data.npz", ids=np.zeros((20, 12), dtype=np.int64), y=np.zeros((20, 12), dtype=np.int64))
    weights = ["--weights", str(path)]
    for command in (
        ["evaluate", str(shallow), "--data", str(tmp_path / "data.npz")],
        ["predict", str(shallow), str(tmp_path / "data.npz"), "-o", str(tmp_path / "out.npz")],
        ["generate", str(shallow), "--prompt-ids", "1 2 3", "--tokens", "2", "--greedy"],
    ):
        result = CliRunner().invoke(app, [*command, *weights])
        assert result.exit_code == 0, result.output
        assert "unused in the checkpoint" in result.stderr and "transformer.h.1." in result.stderr, result.output
    assert result.stdout.split() == ["1", "2", "3", *result.stdout.split()[3:]] and len(result.stdout.split()) == 5


def test_predict_prompts_of_a_spec_with_weights_points_to_generate(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    path = saved(gpt2_reference(), tmp_path)
    spec = tmp_path / "small_gpt2.cram"
    spec.write_text(GPT2)
    (tmp_path / "prompts.txt").write_text("the cat\n")
    result = CliRunner().invoke(app, ["predict", str(spec), str(tmp_path / "prompts.txt"), "--weights", str(path)])
    assert result.exit_code == 1 and "an .npz, .safetensors or .csv file" in result.output, result.output
    assert f"cramnet generate {spec} --weights {path} --prompt TEXT" in result.output


def test_a_checkpoint_of_another_family_is_named_with_the_spec_it_needs(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    spec = tmp_path / "small_gpt2.cram"
    spec.write_text(GPT2)
    cases = [
        (llama_reference, "is a Hugging Face llama checkpoint: layer 0 at", "specs/reference/llama2_7b.cram"),
        (mamba_reference, "is a Hugging Face mamba checkpoint: the spec has no mamba layers", "mamba_130m.cram"),
    ]
    for reference, message, hint in cases:
        path = saved(reference(), tmp_path, reference.__name__)
        result = CliRunner().invoke(app, ["export", str(spec), "--weights", str(path), "--format", "hf"])
        assert result.exit_code == 1 and message in result.output and hint in result.output, result.output


def test_a_pooler_shaped_dense_is_new_when_the_checkpoint_has_no_pooler(tmp_path):
    torch.manual_seed(0)
    config = bert_reference().config
    masked = transformers.BertForMaskedLM(config).eval()  # ProtBERT's kind: no pooler
    pooled = BERT.replace("* 2 as hidden", "* 2 -> pool(cls) -> dense(32) -> tanh -> dense(3) as hidden")
    ours, report = loaded(pooled, saved(masked, tmp_path))
    assert report.new == ["dense_1.weight", "dense_1.bias", "hidden.weight", "hidden.bias"]
    assert all(name.startswith("cls.") for name in report.unused)
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        first = masked.bert(ids).last_hidden_state[:, 0]
        torch.testing.assert_close(ours(ids), ours.hidden(torch.tanh(ours.dense_1(first))), rtol=1e-4, atol=1e-4)


def test_fine_tuning_published_weights_on_text_cramnet_tokenises_is_refused(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    spec = tmp_path / "small_gpt2.cram"
    spec.write_text(GPT2.replace("100", "256"))  # as wide as the byte tokenizer: the shapes fit, the ids do not
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 200)
    checkpoint = tmp_path / "wide"
    config = transformers.GPT2Config(vocab_size=256, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    transformers.GPT2LMHeadModel(config).save_pretrained(checkpoint)
    out = tmp_path / "run"
    args = ["train", str(spec), "--init-from", str(checkpoint), "--data", str(corpus), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--set", "data.options.length=16", "--epochs", "1"])
    assert result.exit_code == 1 and "with its own byte tokenizer" in result.output, result.output
    assert "checkpoint's tokenizer" in result.output and not out.exists()


def test_init_from_a_run_of_another_model_names_both_models(tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from cramnet.cli import app

    np.savez(tmp_path / "data.npz", x=np.zeros((8, 4), dtype=np.float32), y=np.arange(8) % 3)
    data = ["--data", str(tmp_path / "data.npz"), "--epochs", "1", "-q"]
    for name, body in (("first", "x -> dense(3) as y"), ("second", "x -> dense(8) -> relu -> dense(3) as z")):
        output = body.rsplit(" ", 1)[1]
        (tmp_path / f"{name}.cram").write_text(
            f"model {name} {{\n    input x: [4]\n    {body}\n    output {output}\n}}\n"
        )
    assert (
        CliRunner()
        .invoke(app, ["train", str(tmp_path / "first.cram"), *data, "--out", str(tmp_path / "run")])
        .exit_code
        == 0
    )
    result = CliRunner().invoke(
        app, ["train", str(tmp_path / "second.cram"), *data, "--init-from", str(tmp_path / "run")]
    )
    assert result.exit_code == 1, result.output
    assert "is a run of model 'first': none of its" in result.output and "fits model 'second'" in result.output
    assert "cramnet 0.1" not in result.output


def test_a_head_the_checkpoint_lacks_is_new_unless_its_config_ties_it(tmp_path):
    config = llama_reference().config
    headless = transformers.LlamaModel(config)  # tie_word_embeddings: false, and no lm_head
    _, report = loaded(LLAMA, saved(headless, tmp_path, "untied"))
    assert report.new == ["logits.weight"] and report.unused == []
    config.tie_word_embeddings = True
    tied = transformers.LlamaModel(config)
    ours, report = loaded(LLAMA, saved(tied, tmp_path, "tied"))
    assert report.new == [] and torch.equal(ours.logits.weight, tied.embed_tokens.weight)


def test_a_missing_shard_is_named_with_what_to_do(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    path = tmp_path / "sharded"
    llama_reference().save_pretrained(path, max_shard_size="20KB")
    shards = sorted(path.glob("model-*.safetensors"))
    shards[1].unlink()
    spec = tmp_path / "small_llama.cram"
    spec.write_text(LLAMA)
    result = CliRunner().invoke(app, ["export", str(spec), "--weights", str(path), "--format", "hf"])
    assert result.exit_code == 1 and f"{shards[1]}: a shard the index lists is missing" in result.output
    assert f"({len(shards)} shards listed)" in result.output and "fetch every shard" in result.output, result.output


RESIDUES = "LAGVESIKRDTPNQFYMHCWXUBZO"  # ProtBERT's vocabulary: five specials, then one token per residue
PROT_BERT = """
use "std:transformer"
model small_enzbert {
    input protein: tokens[length]
    protein -> embed(30, 32) -> pos_embed(40) -> layernorm(eps = 1e-12)
        -> post_ln(32, 4, 64, p = 0.0, eps = 1e-12) * 2 -> pool(cls) -> dense(3) as ec_class
    output ec_class
}
"""


def prot_bert_like(tmp_path, with_tokenizer: bool = True, as_published: bool = False):
    """A ProtBERT-shaped checkpoint (random weights) and its word-piece tokenizer, saved as save_pretrained
    does — or `as_published` on the hub, a slow tokenizer's vocab.txt and tokenizer_config.json alone."""
    checkpoint = tmp_path / "prot_bert"
    config = transformers.BertConfig(
        vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=40,
    )  # fmt: skip
    transformers.BertModel(config, add_pooling_layer=False).save_pretrained(checkpoint)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *RESIDUES]) + "\n")
    specials = {f"{n}_token": f"[{n.upper()}]" for n in ("unk", "pad", "cls", "sep", "mask")}
    word_pieces = tokenizers.BertWordPieceTokenizer(str(vocab), lowercase=False)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=word_pieces._tokenizer, **specials)
    if as_published:
        (checkpoint / "vocab.txt").write_text(vocab.read_text())
        (checkpoint / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    elif with_tokenizer:
        tokenizer.save_pretrained(checkpoint)
    return checkpoint, tokenizer


def enzymes(tmp_path, count: int = 36):
    generator = torch.Generator().manual_seed(0)
    lines = []
    for i in range(count):
        length = int(torch.randint(8, 50, (1,), generator=generator))
        residues = torch.randint(0, 20, (length,), generator=generator).tolist()
        lines += [f">P{i:04d} ec={i % 3 + 1}", "".join(RESIDUES[r] for r in residues)]
    path = tmp_path / "enzymes.fasta"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("as_published", [False, True], ids=["tokenizer.json", "vocab.txt"])
def test_fasta_is_read_with_the_published_tokenizer_as_hugging_face_reads_it(tmp_path, as_published):
    from cramnet.train.data.fasta import FASTA_OPTIONS, encode_records, read_records
    from cramnet.weights.tokenizer import open_tokenizer

    checkpoint, reference = prot_bert_like(tmp_path, as_published=as_published)
    path = enzymes(tmp_path)
    records = read_records(path)
    options = {**FASTA_OPTIONS, "length": 24}  # shorter than most: cropped, [SEP] kept last
    tokens, mask, _ = encode_records(path, records, options, 30, open_tokenizer(checkpoint))
    spaced = [" ".join(sequence) for _, _, sequence in records]  # ProtBERT's recipe: residues apart
    expected = reference(spaced, padding="max_length", truncation=True, max_length=24, return_tensors="pt")
    assert torch.equal(tokens, expected["input_ids"]) and torch.equal(mask, expected["attention_mask"].bool())


def test_fine_tuning_a_protein_model_reads_fasta_with_its_tokenizer(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    spec = tmp_path / "small_enzbert.cram"
    spec.write_text(PROT_BERT)
    checkpoint, _ = prot_bert_like(tmp_path, as_published=True)  # as downloaded: vocab.txt, no tokenizer.json
    data, out = enzymes(tmp_path), tmp_path / "run"
    args = ["train", str(spec), "--init-from", str(checkpoint), "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(
        app, [*args, "--set", "data.options.label=ec", "--set", "data.options.length=40", "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "tokenizer: " in result.output and "sequences read with the published tokenizer" in result.output
    assert (out / "tokenizer.json").is_file()
    predicted = CliRunner().invoke(app, ["predict", str(out), str(data), "-o", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 37  # a header and a row per record

    bare, _ = prot_bert_like(tmp_path / "bare", with_tokenizer=False)  # cramnet's letters would be other rows
    args[3], args[7] = str(bare), str(tmp_path / "refused")
    result = CliRunner().invoke(
        app, [*args, "--set", "data.options.label=ec", "--set", "data.options.length=40", "--epochs", "1"]
    )
    assert result.exit_code == 1 and "the letters of its amino-acid alphabet" in result.output, result.output
    assert "data.options.tokenizer=DIR/tokenizer.json" in result.output and not (tmp_path / "refused").exists()


def test_fasta_padding_is_no_unknown_residue_for_a_tokenizer_without_a_pad_token(tmp_path):
    # padded with id 0 where the tokenizer has no [PAD]; 0 its [UNK]: every short record was refused
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    from cramnet.train.data.fasta import FASTA_OPTIONS, encode_records, read_records

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, **{r: i + 3 for i, r in enumerate(RESIDUES)}}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    words.save(str(tmp_path / "tokenizer.json"))
    path = enzymes(tmp_path)
    records = read_records(path)
    options = {**FASTA_OPTIONS, "length": 40, "tokenizer": str(tmp_path / "tokenizer.json")}
    tokens, mask, _ = encode_records(path, records, options, 30)
    assert not mask.all() and (tokens[mask] != 0).all()  # padded, and no residue read as [UNK]
    path.write_text(path.read_text() + ">P9999 ec=1\nLAJG\n")  # J: a letter it does not know
    with pytest.raises(TrainError, match="has 'J', a residue the published tokenizer does not know"):
        encode_records(path, read_records(path), options, 30)


def test_evaluating_an_alphabet_read_run_does_not_switch_to_its_checkpoints_tokenizer(tmp_path):
    # runs from before published tokenizers read FASTA with cramnet's letters, init_from or not: evaluate
    # must read them so, not with the tokenizer beside the weights they started from
    import yaml

    from cramnet.train import evaluate_run
    from cramnet.train.config import defaults
    from cramnet.train.loop import train

    spec = tmp_path / "small_enzbert.cram"
    spec.write_text(PROT_BERT)
    checkpoint, _ = prot_bert_like(tmp_path, as_published=True)
    config = defaults()
    config.update(out=str(tmp_path / "run"), epochs=1, seed=0)
    config["data"].update(name=str(enzymes(tmp_path)), options={"label": "ec", "length": 40})
    train(spec, config)
    before = evaluate_run(tmp_path / "run")
    settings = tmp_path / "run" / "config.yaml"
    settings.write_text(yaml.safe_dump({**yaml.safe_load(settings.read_text()), "init_from": str(checkpoint)}))
    assert evaluate_run(tmp_path / "run") == before


def test_a_spec_with_published_weights_reads_fasta_with_their_tokenizer(tmp_path):
    # predict of SPEC --weights DIR reads sequences as fine-tuning reads them, not as cramnet's letters,
    # and no longer than the spec's 40 positions (its longest record, 49 residues, was an internal error)
    from typer.testing import CliRunner

    from cramnet.cli import app
    from cramnet.train.bio_predict import bio_inputs
    from cramnet.train.inference import open_run

    spec = tmp_path / "small_enzbert.cram"
    spec.write_text(PROT_BERT)
    checkpoint, reference = prot_bert_like(tmp_path, as_published=True)
    data = enzymes(tmp_path)
    inputs, ids = bio_inputs(open_run(spec, checkpoint), data)
    spaced = [" ".join(line) for line in data.read_text().splitlines()[1::2]]
    expected = reference(spaced, padding="max_length", truncation=True, max_length=40)["input_ids"]
    assert inputs["protein"].tolist() == expected and ids[0] == "P0000"
    predicted = CliRunner().invoke(app, ["predict", str(spec), str(data), "--weights", str(checkpoint)])
    assert predicted.exit_code == 0, predicted.output
