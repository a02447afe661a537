"""The checkpoint format: weights named by module path, nested as the spec is (compiler/naming.py,
docs/checkpoints.md); runs saved in cramnet 0.1's flat layout still load, evaluate and resume."""

import shutil
from pathlib import Path

import numpy as np
import pytest
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


def test_flat_keys_inside_a_mixture_of_experts_are_renamed_to_module_paths():
    from cramnet.train.checkpoints import _from_flat

    # inside the experts, identifiers (`ffn_1_dense_1`) and module paths (`ffn.0.dense_1`) differ
    spec = (
        "block ffn(d) {\n dense(16) -> relu -> dense(d)\n}\n"
        "model m {\n input x: [seq, 8]\n x -> dense(8) -> moe(experts = 2, top_k = 1) { ffn(8) * 2 } as y\n"
        " output y\n}\n"
    )
    checked = check_spec(spec)
    nested = checked.build(seed=0).state_dict()
    graph = checked.graph
    moe = next(n for n, a in graph.nodes.items() if a.spec is not None and a.spec.bodies)
    expert = graph.nodes[moe].args.bodies.graphs[0].graph
    flat_of = {checked.module_path(n): a.attr for n, a in graph.nodes.items()}
    inner_of = {a.path: a.attr for a in expert.nodes.values()}

    def flat(key: str) -> str:  # cramnet 0.1's name for the same tensor
        for path, attr in flat_of.items():
            if key.startswith(path + ".experts."):
                index, inner = key[len(path) + len(".experts.") :].split(".", 1)
                module, _, tensor = inner.rpartition(".")
                return f"{attr}.experts.{index}.{inner_of[module]}.{tensor}"
            if key.startswith(path + "."):
                return attr + key[len(path) :]
        raise KeyError(key)

    old = {f"model.{flat(k)}": v for k, v in nested.items()}
    assert "model.y.experts.1.ffn_1_dense_1.weight" in old and "y.experts.1.ffn.0.dense_1.weight" in nested
    assert _from_flat(old, checked) == {f"model.{k}": v for k, v in nested.items()}


def test_weights_that_fit_nothing_are_refused_not_silently_skipped(tmp_path):
    from cramnet.train.errors import TrainError

    run = shutil.copytree(FLAT_RUN, tmp_path / "run")  # the flat layout: no name matches today's
    with pytest.raises(TrainError, match="cramnet 0.1, named in its flat layout"):
        compile_spec(str(run / "spec.cram"), weights=run)
    from safetensors.torch import save_file

    meta = {"cramnet": '{"format": "cramnet-checkpoint-2"}'}  # a cramnet checkpoint of another model
    save_file({"model.encoder.weight": torch.zeros(2, 3)}, str(tmp_path / "other.safetensors"), metadata=meta)
    spec = "model o {\n input x: [3]\n x -> dense(2) as y\n output y\n}\n"  # holds none of its tensors
    with pytest.raises(TrainError, match="none of its"):
        compile_spec(spec, weights=tmp_path / "other.safetensors")
