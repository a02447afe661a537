"""Blocks declared outside cramnet — by a module named with --plugin or an installed package's
`cramnet.blocks` entry point — are checked, summarised and compiled like built-in ones."""

import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from cramnet.blocks import load_plugins, lookup
from cramnet.cli import app
from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl import SpecErrors

SPEC = "model scaled {\n    input x: [8]\n    x -> test_scale(2.0) -> dense(3) as y\n    output y\n}\n"


def test_plugin_module_block_compiles_and_runs():
    module = compile_spec(SPEC, plugins=["tests.plugins.scale_block"], seed=0)
    assert sum(p.numel() for p in module.parameters()) == 8 + 8 * 3 + 3
    torch.testing.assert_close(module.test_scale_1.weight, torch.full((8,), 2.0))
    assert module(torch.randn(2, 8)).shape == (2, 3)


def test_plugin_through_the_cli(tmp_path):
    spec = tmp_path / "scaled.cram"
    spec.write_text(SPEC)
    runner = CliRunner()
    result = runner.invoke(app, ["summary", str(spec), "--json", "--plugin", "tests.plugins.scale_block"])
    assert result.exit_code == 0, result.output
    assert '"params": 35' in result.output
    blocks = runner.invoke(app, ["blocks", "test_scale", "--plugin", "tests.plugins.scale_block"])
    assert blocks.exit_code == 0 and "learned scale" in blocks.output


def test_standalone_source_embeds_the_plugin_class_and_the_helpers_it_uses(tmp_path):
    source = check_spec(SPEC, plugins=["tests.plugins.scale_block"]).source(standalone=True)
    assert "class Scale(nn.Module)" in source and "def _bounded(" in source and "LIMIT = 10000.0" in source
    (tmp_path / "scaled.py").write_text(source)
    code = (  # in a process where cramnet cannot be imported
        "import sys, torch; sys.modules['cramnet'] = None; sys.path.insert(0, sys.argv[1])\n"
        "from scaled import Scaled; print(tuple(Scaled()(torch.randn(2, 8)).shape))"
    )
    ran = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout.strip() == "(2, 3)", ran.stderr


NUMPY_PLUGIN = """
import numpy as np
from torch import nn
from cramnet.blocks import Construct, block

class Noisy(nn.Module):
    def forward(self, x):
        return x + float(np.float32(0))

@block("test_noisy", family="plugins", args=(), module=lambda inputs, a: Construct(Noisy, {}))
def test_noisy(inputs, a):
    \"\"\"Adds nothing.

    Shapes: [...] -> [...].
    \"\"\"
    return inputs[0]
"""


def test_export_refuses_a_plugin_whose_module_needs_an_import_it_cannot_carry(tmp_path, monkeypatch):
    (tmp_path / "numpy_block.py").write_text(NUMPY_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "noisy.cram"
    spec.write_text("model noisy {\n    input x: [4]\n    x -> test_noisy as y\n    output y\n}\n")
    result = CliRunner().invoke(app, ["export", str(spec), "-o", str(tmp_path / "n.py"), "--plugin", "numpy_block"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "uses 'np'" in result.output and not (tmp_path / "n.py").exists()


def test_missing_plugin_module_is_a_clear_error(tmp_path):
    spec = tmp_path / "scaled.cram"
    spec.write_text(SPEC)
    result = CliRunner().invoke(app, ["check", str(spec), "--plugin", "no_such_module_xyz"])
    assert result.exit_code == 1
    assert "cannot import plugin module 'no_such_module_xyz'" in result.output
    assert "Traceback" not in result.output


def test_entry_point_plugin_is_found(tmp_path, monkeypatch):
    package = tmp_path / "shiftblocks.py"
    package.write_text(
        "from cramnet.blocks import Arg, block\n"
        "@block('test_shift', family='plugins', args=(Arg('by', 'float', 1.0, 'offset'),),\n"
        "       forward=lambda module, names, a, inputs: f'{names[0]} + {a.by}', example=('[4]', 'test_shift'))\n"
        "def test_shift(inputs, a):\n"
        "    '''Adds a constant.\n\n    Shapes: any -> same.'''\n"
        "    return inputs[0]\n"
    )
    info = tmp_path / "shiftblocks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shiftblocks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cramnet.blocks]\nshift = shiftblocks\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert lookup("test_shift") is None
    load_plugins()
    assert lookup("test_shift") is not None
    module = compile_spec("model m {\n    input x: [4]\n    x -> test_shift(by = 2) as y\n    output y\n}\n")
    torch.testing.assert_close(module(torch.zeros(1, 4)), torch.full((1, 4), 2.0))
    sys.modules.pop("shiftblocks", None)


ENSEMBLE = (
    "model e {\n    input x: [8]\n    x -> test_ensemble() { dense(4) | dense(4) -> tanh } as y\n    output y\n}\n"  # noqa: E501
)


def test_a_plugin_block_can_take_bodies():
    checked = check_spec(ENSEMBLE, plugins=["tests.plugins.ensemble_block"])
    assert checked.summary().params == 2 * (8 * 4 + 4)
    model = checked.build(seed=0)
    x = torch.randn(3, 8)
    first, second = model.y.members
    torch.testing.assert_close(model(x), (first(x) + second(x)) / 2)
    assert "class EYMember1(nn.Module)" in checked.source()
    with pytest.raises(SpecErrors, match="members' outputs differ"):
        check_spec(ENSEMBLE.replace("dense(4) -> tanh", "dense(5)"), plugins=["tests.plugins.ensemble_block"])
    with pytest.raises(SpecErrors, match="takes no"):
        check_spec(ENSEMBLE.replace("test_ensemble()", "dense(4)"), plugins=["tests.plugins.ensemble_block"])


def test_a_plugin_that_cannot_load_is_one_error_for_a_search_space_too(tmp_path):
    """docs/errors.md, E220: `check --plugin` with a module that does not import is one E220 — also
    for a spec with choices, whose points are not each checked against the missing blocks."""
    spec = tmp_path / "space.cram"
    spec.write_text("let width = choice(16, 32)\n" + SPEC.replace("test_scale(2.0)", "dense(width)"))
    result = CliRunner().invoke(app, ["check", str(spec), "--plugin", "my_blockz"])
    assert result.exit_code == 1
    assert result.output.count("error[E220]") == 1 and "combinations" not in result.output, result.output
