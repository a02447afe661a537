"""`cramnet blocks` and the hints for unknown names (issue 16, blocks): families listed with their
docs, descriptions past "et al.", the standard library inspectable, which `use` a spec is missing,
PyTorch and Keras names, syntax words, and arguments that belong to another block."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cramnet.blocks.registry import Family, all_blocks, all_families
from cramnet.cli import app
from cramnet.views import first_sentence

runner = CliRunner()


def _blocks(*args: str):
    return runner.invoke(app, ["blocks", *args], env={"COLUMNS": "240"})


def test_every_block_belongs_to_a_declared_family():
    families = all_families()
    assert all(isinstance(f, Family) and f.colour.startswith("#") and f.doc for f in families.values())
    for name, spec in all_blocks().items():
        if spec.origin.startswith("cramnet."):
            assert spec.family in families, f"{name}: family {spec.family!r} is not declared"
    assert all_blocks()["dropout"].family == "regularisation" and all_blocks()["flatten"].family == "shape"


def test_catalogue_lists_families_and_whole_first_sentences():
    result = _blocks()
    assert result.exit_code == 0
    assert "families" in result.output and "Selective state-space sequence layers." in result.output
    assert "standard library" in result.output and "pre_ln(d, heads, hidden" in result.output
    cut = [n for n, s in all_blocks().items() if first_sentence(s.doc).endswith("et al.")]
    assert not cut, cut
    assert first_sentence("Mamba (Gu et al. 2023), e.g. a layer. Then more.") == "Mamba (Gu et al. 2023), e.g. a layer."


def test_standard_library_blocks_are_inspectable():
    result = _blocks("pre_ln")
    assert result.exit_code == 0
    assert 'use "std:transformer"' in result.output and "Pre-LN layer" in result.output
    assert "residual { layernorm(eps)" in result.output  # its definition, as written


@pytest.mark.parametrize(
    "name, hint",
    [
        ("linear", "'dense'"),
        ("Conv2d", "'conv2d'"),
        ("LayerNorm", "'layernorm'"),
        ("MultiheadAttention", "'attention'"),
        ("attn", "'attention'"),
        ("repeat", "part of the language"),
        ("residual", "part of the language"),
        ("parallel", "part of the language"),
    ],
)
def test_foreign_names_and_syntax_words(name, hint):
    result = _blocks(name)
    assert result.exit_code == 1 and hint in result.output, result.output


def _check(tmp_path: Path, body: str):
    spec = tmp_path / "m.cram"
    spec.write_text(body)
    return runner.invoke(app, ["check", str(spec)], env={"COLUMNS": "240"})


def test_a_standard_library_block_without_its_use(tmp_path):
    result = _check(
        tmp_path,
        "model m {\n    input x: [seq, 16]\n    x -> pre_ln(16, 2, 32) -> Linear(4) as y\n    output y\n}\n",
    )
    assert result.exit_code == 1 and "E204" in result.output
    assert 'add use "std:transformer" at the top of the file' in result.output
    assert "'Linear' is cramnet's 'dense'" in result.output


def test_an_argument_of_another_block(tmp_path):
    result = _check(
        tmp_path,
        "model m {\n    input x: [3, 8, 8]\n    x -> conv2d(4, 3) as a\n"
        "    a -> conv2d(4, 3, tie = a) -> conv2d(4, 3, heads = 2) as y\n    output y\n}\n",
    )
    assert result.exit_code == 1
    assert "'stride'" not in result.output and "share = NAME" in result.output
    assert "'heads' is an argument of attention" in result.output


def test_a_family_name_lists_its_blocks():
    result = _blocks("regularisation")
    assert result.exit_code == 0 and "dropout(p = 0.5)" in result.output and "drop_path(p)" in result.output
    assert "conv2d" not in result.output


def test_a_declared_family_is_found_and_coloured_without_edits(tmp_path, monkeypatch):
    """What a new family file does: declare a `Family` and its blocks; the registry, the catalogue
    and the diagrams pick them up with no list to extend anywhere."""
    from cramnet.blocks import load_plugins
    from cramnet.render.palette import family_colour

    (tmp_path / "cramnet_test_family.py").write_text(
        "from cramnet.blocks import Arg, Family, block\n"
        "WAVES = Family('waves', '#123456', 'Test blocks that ripple.')\n"
        "@block('ripple', family='waves', args=(Arg('k', 'int', 1, 'how many'),))\n"
        "def ripple(inputs, a):\n"
        "    '''Returns its input.\n\n    Shapes: any -> same.\n    '''\n"
        "    return inputs[0]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["cramnet_test_family"])
    assert all_families()["waves"].doc == "Test blocks that ripple."
    assert family_colour("waves") == "#123456"
    result = _blocks("waves")
    assert result.exit_code == 0 and "ripple(k = 1)" in result.output
