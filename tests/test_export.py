"""`cramnet export`: the python file is `compile -o`'s source and rebuilds the compiled model
exactly; ONNX files pass the ONNX checker and compute what the module computes."""

import importlib.util
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec, compile_spec
from cramnet.compiler.codegen import class_name
from cramnet.compiler.trial import random_inputs
from cramnet.export import ExportSource, export_python

runner = CliRunner()
ROUND_TRIP = [
    "specs/lenet5.cram",
    "specs/resnet_digits.cram",
    "specs/seq2seq_lstm.cram",
    "specs/cram.cram",
    "specs/karate_gcn.cram",
]


def _load(path, name):
    spec = importlib.util.spec_from_file_location(f"exported_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the like look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return getattr(module, class_name(name))


@pytest.mark.parametrize("spec", ROUND_TRIP)
def test_python_export_reproduces_the_compiled_model(spec, tmp_path):
    checked = check_spec(spec)
    path = export_python(ExportSource(checked), tmp_path / "model.py")
    assert path.read_text() == checked.source(standalone=True)
    cls = _load(path, checked.name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        exported = cls()
    compiled = compile_spec(spec, seed=0)
    ours, theirs = compiled.state_dict(), exported.state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    compiled.eval(), exported.eval()
    torch.manual_seed(1)
    inputs = random_inputs(checked, {}, 2, torch.device("cpu"))
    with torch.no_grad():
        a, b = compiled(*inputs), exported(*inputs)
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        assert torch.equal(x, y)


def test_cli_export_python_is_compile_o(tmp_path):
    result = runner.invoke(app, ["export", "specs/vit_digits.cram", "-o", str(tmp_path / "a.py")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compile", "specs/vit_digits.cram", "--device", "cpu", "-o", str(tmp_path / "b.py")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.py").read_text() == (tmp_path / "b.py").read_text()
    result = runner.invoke(app, ["export", "specs/vit_digits.cram", "--format", "tflite"])
    assert result.exit_code == 2 and "python, onnx" in result.output  # outside its choices: docs/errors.md


def _onnx_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript"))


needs_onnx = pytest.mark.skipif(not _onnx_available(), reason="optional: pip install onnx onnxscript")


@needs_onnx
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_onnx_export_checks_and_computes_the_same(tmp_path):
    import numpy as np
    import onnx
    from onnx.reference import ReferenceEvaluator

    from cramnet.export import export_onnx

    source = ExportSource.from_spec("specs/lenet5.cram")
    path = export_onnx(source, tmp_path / "lenet5.onnx", batch=2)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["logits"]
    image = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = source.built().eval()(image).numpy()
    (got,) = ReferenceEvaluator(model).run(None, {"image": image.numpy()})
    assert np.allclose(got, expected, atol=1e-4)


def test_onnx_export_refuses_graph_inputs_clearly(tmp_path):
    result = runner.invoke(app, ["export", "specs/karate_gcn.cram", "--format", "onnx", "-o", str(tmp_path / "k.onnx")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("graph inputs" in result.output) if _onnx_available() else ("pip install onnx" in result.output)


@pytest.mark.slow
def test_a_trained_run_exports_with_its_weights_and_loads_without_cramnet(tmp_path):
    from cramnet.train import apply_sets, defaults, load_run, train

    sets = [f"out={tmp_path / 'run'}", "epochs=1", "batch_size=64", "threads=1", "device=cpu"]
    run = train("specs/mlp.cram", apply_sets(defaults(), sets)).out
    target = tmp_path / "mlp.py"
    result = CliRunner().invoke(app, ["export", str(run), "--format", "python", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.with_suffix(".safetensors").exists()
    assert "`from mlp import load; model = load()`" in result.output
    hyphen = tmp_path / "my-mlp.py"  # was told `from my-mlp import load`, which Python cannot read
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(hyphen)])
    assert result.exit_code == 0 and "from my-mlp import" not in result.output, result.output
    assert "importlib" in result.output and hyphen.with_suffix(".safetensors").exists()
    x = torch.rand(5, 1, 8, 8)
    torch.save(x, tmp_path / "x.pt")
    code = (
        # the file must not need cramnet; one thread, as the training left this process (same sums)
        "import sys, torch; sys.modules['cramnet'] = None; torch.set_num_threads(1)\n"
        f"ns = {{'__file__': {str(target)!r}}}; exec(open({str(target)!r}).read(), ns)\n"
        f"y = ns['load']()(torch.load({str(tmp_path / 'x.pt')!r}))\n"
        f"torch.save(y, {str(tmp_path / 'y.pt')!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    expected = load_run(run).module(x)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expected, rtol=0, atol=0)
