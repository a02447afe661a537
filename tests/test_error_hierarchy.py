"""The error hierarchy of cramnet/errors.py: every user mistake is a `CramnetError`, the old names are
its kinds, and the command line tells a user mistake (exit 1) from a bug in cramnet (exit 70)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from cramnet import errors
from cramnet.cli import app
from cramnet.compiler import trial
from cramnet.dsl.errors import SpecErrors

runner = CliRunner()


def test_every_kind_is_a_cramnet_error_with_a_hint():
    kinds = [errors.UsageError, errors.PluginError, errors.DeviceUnavailable, errors.ExportError]
    kinds += [errors.TrainError, errors.ProbeError, SpecErrors]
    assert all(issubclass(kind, errors.CramnetError) for kind in kinds)
    failure = errors.TrainError("epochs must be above 0", "write --epochs 3")
    assert str(failure) == "epochs must be above 0" and failure.hint == "write --epochs 3"
    assert SpecErrors([]).hint is None


def test_the_old_names_are_the_kinds():
    from cramnet.blocks import PluginError
    from cramnet.cli import UserError
    from cramnet.export import OnnxExportFailed, OnnxMissing
    from cramnet.probe import ProbeError
    from cramnet.train import TrainError
    from cramnet.train.errors import TrainError as TrainErrorToo

    assert TrainError is TrainErrorToo is errors.TrainError
    assert (ProbeError, PluginError, UserError) == (errors.ProbeError, errors.PluginError, errors.UsageError)
    assert issubclass(OnnxMissing, errors.ExportError) and issubclass(OnnxExportFailed, errors.ExportError)


def test_a_bug_in_generated_code_is_an_internal_error_not_the_users(monkeypatch):
    def broken(*args):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")

    monkeypatch.setattr(trial, "_timed_trial", broken)
    result = runner.invoke(app, ["compile", "specs/mlp.cram", "--device", "cpu"])
    assert result.exit_code == 70, result.output
    assert "internal error: RuntimeError: mat1 and mat2" in result.output
    assert "this is a bug in cramnet" in result.output and "report it" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: 1 TiB"),
    ],
    ids=["cuda", "cpu"],
)
def test_running_out_of_memory_is_the_users_to_fix(monkeypatch, error):
    def exhausted(*args):
        raise error

    monkeypatch.setattr(trial, "_timed_trial", exhausted)
    result = runner.invoke(app, ["compile", "specs/mlp.cram", "--device", "cpu"])
    assert result.exit_code == 1, result.output
    assert "error: out of memory on cpu" in result.output and "hint: use a smaller --batch" in result.output


def test_any_cramnet_error_prints_as_a_message_with_its_hint(monkeypatch):
    def refuses(*args):
        raise errors.DeviceUnavailable("the device is busy", "try again later")

    monkeypatch.setattr(trial, "trial_run", refuses)
    result = runner.invoke(app, ["compile", "specs/mlp.cram"])
    assert result.exit_code == 1 and "error: the device is busy" in result.output
    assert "hint: try again later" in result.output and "Traceback" not in result.output


def test_training_out_of_memory_is_the_users_to_fix(monkeypatch, tmp_path):
    from cramnet.train import loop

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 40.00 GiB")

    monkeypatch.setattr(loop, "train", exhausted)
    result = runner.invoke(app, ["train", "specs/mlp.cram", "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "error: out of memory while training" in result.output and "--batch-size" in result.output
