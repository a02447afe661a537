"""Blocks declared outside cramnet — by a module named with --plugin or an installed package's
`cramnet.blocks` entry point — are checked, summarised and compiled like built-in ones."""

import sys

import torch
from typer.testing import CliRunner

from cramnet.blocks import load_plugins, lookup
from cramnet.cli import app
from cramnet.compiler import check_spec, compile_spec

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


def test_standalone_source_embeds_the_plugin_class():
    source = check_spec(SPEC, plugins=["tests.plugins.scale_block"]).source(standalone=True)
    assert "class Scale(nn.Module)" in source
    namespace = {}
    exec(compile(source, "scaled.py", "exec"), namespace)
    assert namespace["Scaled"]()(torch.randn(2, 8)).shape == (2, 3)


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
