"""The command line as a user runs it: exit codes, verdicts, tables, JSON, and no tracebacks."""

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from cramnet import __version__
from cramnet.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_check_sound_spec():
    result = run("check", "specs/lenet5.cram")
    assert result.exit_code == 0
    assert "ok" in result.output and "61,706 parameters" in result.output


def test_check_reports_every_error_located(tmp_path):
    spec = tmp_path / "bad.cram"
    spec.write_text(
        "model m {\n    input x: [4]\n    x -> convd2d(3) as a\n    x -> dense(2, bais = 1) as b\n    output a, b\n}\n"
    )
    result = run("check", str(spec))
    assert result.exit_code == 1
    assert f"{spec}:3:10: error[E204]" in result.output and "did you mean 'conv2d'?" in result.output
    assert f"{spec}:4:19: error[E301]" in result.output and "did you mean 'bias'?" in result.output
    assert "    x -> convd2d(3) as a" in result.output and "^^^^^^^" in result.output
    assert "2 errors" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", b"\xff\xfe not utf-8 {", b"just some words\n"])
def test_check_a_file_that_is_not_a_spec(tmp_path, content):
    spec = tmp_path / "thing.cram"
    spec.write_bytes(content)
    result = run("check", str(spec))
    assert result.exit_code == 1 and "error[E" in result.output and "Traceback" not in result.output


def test_check_missing_file():
    result = run("check", "no/such/file.cram")
    assert result.exit_code == 1 and "no such file" in result.output


def test_a_missing_spec_is_not_matched_on_its_suffix_alone(tmp_path):
    # "nope.cram" was met with "did you mean 'bin.cram'?": the shared ".cram" made any short name close
    (tmp_path / "bin.cram").write_text("")
    (tmp_path / "lenet5.cram").write_text("")
    result = run("check", str(tmp_path / "nope.cram"))
    assert result.exit_code == 1 and "did you mean" not in result.output and "check the spelling" in result.output
    assert f"did you mean '{tmp_path / 'lenet5.cram'}'?" in run("check", str(tmp_path / "lenett5.cram")).output


def test_summary_table_has_totals():
    result = run("summary", "specs/reference/resnet18.cram")
    assert result.exit_code == 0
    assert "11,689,512" in result.output and "basic_down_1.conv2d_1" in result.output


def test_summary_json_fields():
    result = run("summary", "specs/lenet5.cram", "--json", "--batch", "8")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["params"] == 61_706
    assert data["layers"] == 12
    assert data["inputs"] == {"image": "[1, 32, 32]"} and data["outputs"] == {"logits": "[10]"}
    assert data["flops"] == 8 * check_flops("specs/lenet5.cram")
    assert data["memory"]["weights"] == 61_706 * 4 and data["memory"]["total"] > data["memory"]["weights"]


def check_flops(spec):
    from cramnet.compiler import check_spec

    return check_spec(spec).summary().flops


SEQUENCE_SPEC = (
    "model seqmodel {\n    input x: [seq, 16]\n    x -> dense(32) -> relu -> dense(4) as y\n    output y\n}\n"
)


def test_summary_sizes_symbolic_dimensions(tmp_path):
    spec = tmp_path / "seq.cram"
    spec.write_text(SEQUENCE_SPEC)
    symbolic = json.loads(run("summary", str(spec), "--json").output)
    assert symbolic["unresolved_sizes"] == ["seq"] and symbolic["flops"] is None and "seq" in symbolic["flops_formula"]
    sized = json.loads(run("summary", str(spec), "--json", "--dim", "seq=1024", "--batch", "8").output)
    assert sized["flops"] == 8 * 1024 * (2 * 16 * 32 + 32 + 2 * 32 * 4)
    assert run("summary", str(spec), "--dim", "sq=3").exit_code == 1
    assert "did you mean 'seq'" in run("summary", str(spec), "--dim", "sq=3").output
    assert run("summary", str(spec), "--dim", "seq").exit_code == 1
    superscript = run("summary", str(spec), "--dim", "seq=²")  # a digit to str.isdigit, not to int()
    assert superscript.exit_code == 1 and "is not NAME=INTEGER" in superscript.output


def test_compile_writes_a_standalone_module(tmp_path):
    target = tmp_path / "lenet.py"
    result = run("compile", "specs/lenet5.cram", "--device", "cpu", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "forward+backward" in result.output and "peak memory" in result.output
    code = (
        "import sys, torch; sys.modules['cramnet'] = None\n"  # the file must not need cramnet
        f"ns = {{}}; exec(open({str(target)!r}).read(), ns)\n"
        "print(tuple(ns['Lenet5']()(torch.randn(2, 1, 32, 32)).shape))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(2, 10)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a missing GPU")
def test_compile_on_missing_gpu_is_a_clear_error():
    result = run("compile", "specs/mlp.cram", "--device", "cuda")
    assert result.exit_code == 1 and "no CUDA GPU" in result.output


def test_several_models_need_a_choice(tmp_path):
    spec = tmp_path / "two.cram"
    spec.write_text(SEQUENCE_SPEC + SEQUENCE_SPEC.replace("seqmodel", "other"))
    assert run("check", str(spec)).exit_code == 1
    assert "--model" in run("check", str(spec)).output
    assert run("check", str(spec), "--model", "other").exit_code == 0


def test_blocks_catalogue_and_detail():
    catalogue = run("blocks")
    assert catalogue.exit_code == 0 and "conv2d" in catalogue.output and "layernorm" in catalogue.output
    detail = run("blocks", "conv2d")
    assert detail.exit_code == 0 and "kernel" in detail.output and "same" in detail.output
    unknown = run("blocks", "convd")
    assert unknown.exit_code == 1 and "did you mean" in unknown.output


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "cramnet.cli", "check", "specs/mlp.cram"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_help_answers_to_h_and_describes_the_run_options():
    result = runner.invoke(app, ["train", "-h"])
    assert result.exit_code == 0
    for option, words in (("--epochs", "Passes over"), ("--batch-size", "Examples per step"), ("--seed", "Seed of")):
        line = next(line for line in result.output.splitlines() if line.strip().startswith(option))
        assert words in line, line


def test_a_missing_spec_named_on_the_command_line_hints_at_its_path():
    near = run("check", "specs/lenett5.cram")
    assert near.exit_code == 1 and "hint: did you mean 'specs/lenet5.cram'?" in near.output
    nowhere = run("check", "nosuch.cram")
    assert "hint: check the spelling; a relative path is read from" in nowhere.output
    assert "`use`" not in near.output + nowhere.output  # a file that no `use` named
    assert "hint: there is no folder spec in" in run("check", "spec/lenet5.cram").output


def test_a_use_that_names_a_folder_is_told_it_is_a_folder(tmp_path):
    # it said "used file not found: blocks.cram (looked for …)", though the path was there
    (tmp_path / "blocks.cram").mkdir()
    spec = tmp_path / "main.cram"
    spec.write_text('use "blocks.cram"\n' + SEQUENCE_SPEC)
    result = run("check", str(spec))
    assert result.exit_code == 1, result.output
    assert f"{spec}:1:1: error[E200]: cannot read {tmp_path / 'blocks.cram'}: Is a directory" in result.output
    assert 'use "blocks.cram"' in result.output and "not found" not in result.output


def test_a_missing_use_target_keeps_its_hint(tmp_path):
    spec = tmp_path / "main.cram"
    spec.write_text('use "lib.cram"\n' + SEQUENCE_SPEC)
    result = run("check", str(spec))
    assert result.exit_code == 1 and "error[E201]" in result.output
    assert "`use` paths are relative to the file that uses them" in result.output
