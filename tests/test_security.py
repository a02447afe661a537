"""Nothing a file name, a spec or a run directory holds is ever run as code, and a run loads from
its own files alone (docs/security.md)."""

import ast as python_ast
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.train import apply_sets, defaults, load_run, train

runner = CliRunner()
MLP = """
model tiny {
    input image: [1, 8, 8]
    image -> flatten -> dense(16) -> relu -> dense(10) as logits
    output logits
}
"""
PAYLOAD = 'a""";open("PWNED","w").write("x");"""b\\\nc\n.cram'


def test_a_file_name_never_reaches_generated_code_as_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / PAYLOAD
    spec.write_text(MLP)
    source = check_spec(spec).source()
    python_ast.parse(source)  # one docstring, then imports and classes: the name stayed inside it
    assert 'open(\\"PWNED' in source
    result = runner.invoke(app, ["compile", str(spec), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "PWNED").exists()


def test_a_run_loads_from_its_own_spec_not_the_path_in_run_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "tiny.cram"
    spec.write_text(MLP)
    out = train(spec, apply_sets(defaults(), [f"out={tmp_path / 'run'}", "epochs=1", "threads=1"])).out
    # someone shares the run with run.json pointing at a file of theirs, and the source is edited
    evil = tmp_path / "evil.cram"
    evil.write_text(MLP.replace("dense(16)", "dense(99)"))
    info = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**info, "spec": str(evil)}))
    spec.write_text(MLP.replace("dense(16)", "dense(17)"))
    run = load_run(out)
    assert run.module(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert run.checked.path == str(out / "spec.cram")
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 0, result.output


def test_a_run_keeps_the_files_its_spec_uses(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "head.cram").write_text("block head(n) {\n    dense(n)\n}\n")
    spec = tmp_path / "model.cram"
    spec.write_text(MLP.replace("dense(10)", "head(10)").replace("model tiny", 'use "parts/head.cram"\n\nmodel tiny'))
    out = train(spec, apply_sets(defaults(), [f"out={tmp_path / 'run'}", "epochs=1", "threads=1"])).out
    (tmp_path / "parts" / "head.cram").write_text("this file is gone")
    assert json.loads((out / "spec_uses.json").read_text()) == {
        str(Path("parts") / "head.cram"): "block head(n) {\n    dense(n)\n}\n"
    }
    assert load_run(out).module(torch.rand(1, 1, 8, 8)).shape == (1, 10)
    resumed = train(None, apply_sets(defaults(), [f"out={out}", "epochs=2", "threads=1"]), resume=out)
    assert resumed.final["epochs"] == 2


def test_a_run_without_its_spec_copy_is_refused(tmp_path):
    spec = tmp_path / "tiny.cram"
    spec.write_text(MLP)
    out = train(spec, apply_sets(defaults(), [f"out={tmp_path / 'run'}", "epochs=1", "threads=1"])).out
    (out / "spec.cram").unlink()
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 1
    assert "holds no spec.cram" in result.output
    with pytest.raises(Exception, match="holds no spec.cram"):
        load_run(out)
