"""The checkpoint format: weights named by module path, nested as the spec is (compiler/naming.py,
docs/checkpoints.md); runs saved in cramnet 0.1's flat layout still load, evaluate and resume."""

import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec, compile_spec
from cramnet.train import apply_sets, defaults, load_run, train

FLAT_RUN = Path(__file__).parent / "fixtures" / "flat_run"  # trained by cramnet 0.1 (flat layout)


def test_gpt2_weights_are_named_as_a_hand_written_model_would_name_them():
    keys = list(compile_spec("specs/gpt2.cram").state_dict())
    assert keys[:3] == ["tok.weight", "pos_embed_1.weight", "pre_ln.0.layernorm_1.weight"]
    assert "pre_ln.11.attention_1.q_proj.weight" in keys and "pre_ln_12_attention_1.q_proj.weight" not in keys


def test_resnet50_nests_its_stages_as_module_lists():
    model = check_spec("specs/reference/resnet50.cram").build()
    lists = {name: len(m) for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList)}
    # the identity bottlenecks after each stage's first
    assert lists == {"bottleneck_1": 2, "bottleneck_2": 3, "bottleneck_3": 5, "bottleneck_4": 2}
    source = check_spec("specs/reference/resnet50.cram").source(standalone=False)
    assert "for layer in self." in source
    # one class per block; the widths that differ between stages are constructor arguments
    classes = [line.split("(")[0][6:] for line in source.splitlines() if line.startswith("class ")]
    assert classes == ["Stem", "BottleneckDown", "Bottleneck", "BottleneckDown2", "Resnet50"]  # 2: stride 2
    assert "nn.ModuleList([Bottleneck(in_channels=1024, out_channels=256) for _ in range(5)])" in source


def test_a_run_saved_in_the_flat_layout_loads_with_the_same_outputs(tmp_path):
    run = shutil.copytree(FLAT_RUN, tmp_path / "run")
    expected = np.load(run / "expected.npz")
    module = load_run(run).module
    assert "layers.0.dense_2.weight" in module.state_dict()
    with torch.no_grad():
        logits = module(torch.from_numpy(expected["x"]))
    np.testing.assert_array_equal(logits.numpy(), expected["logits"])
    result = CliRunner().invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0 and "test_accuracy" in result.output, result.output


def test_a_run_saved_in_the_flat_layout_resumes_into_the_nested_layout(tmp_path):
    run = shutil.copytree(FLAT_RUN, tmp_path / "run")
    result = train(None, apply_sets(defaults(), [f"out={run}", "epochs=3", "threads=1"]), resume=run)
    assert result.final["epochs"] == 3
    with safe_open(str(run / "model.safetensors"), framework="pt") as handle:
        assert "model.res.1.dense_1.weight" in handle.keys()
    load_run(run)


def test_the_generated_examples_in_the_docs_are_current():
    for spec, name in [("specs/gpt2.cram", "gpt2"), ("specs/reference/resnet50.cram", "resnet50")]:
        written = (Path("docs/generated") / f"{name}.py").read_text()
        assert written == check_spec(spec).source(standalone=False), "run python docs/generated/make.py"
