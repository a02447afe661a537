"""The `%%cram` cell magic: its function directly, and registered in a real IPython shell."""

from __future__ import annotations

import pytest
import torch

from cramnet.compiler import CheckedModel
from cramnet.notebook import run_cell_magic

CELL = """\
model net {
    input x: [8]
    x -> dense(4) -> relu -> dense(3) as logits
    output logits
}
"""


def test_the_magic_binds_the_built_model_and_returns_the_checked_one():
    namespace: dict = {}
    checked = run_cell_magic("clf --seed 0", CELL, namespace)
    assert isinstance(checked, CheckedModel) and checked.name == "net"
    assert namespace["clf"](torch.zeros(2, 8)).shape == (2, 3)
    again: dict = {}
    run_cell_magic("clf --seed 0", CELL, again)
    assert torch.equal(again["clf"].state_dict()["logits.weight"], namespace["clf"].state_dict()["logits.weight"])


def test_the_model_name_is_the_default_and_check_builds_nothing():
    namespace: dict = {}
    run_cell_magic("--check", CELL, namespace)
    assert isinstance(namespace["net"], CheckedModel)


def test_a_wrong_spec_prints_its_errors_and_binds_nothing(capsys):
    namespace: dict = {}
    assert run_cell_magic("clf", CELL.replace("relu", "rleu"), namespace) is None
    assert namespace == {}
    printed = capsys.readouterr().err
    assert "<cell>:3:22: error[E204]: unknown block 'rleu'" in printed and "did you mean 'relu'?" in printed


def test_a_wrong_magic_line_is_a_message_not_an_exit(capsys):
    assert run_cell_magic("clf --seed many", CELL, {}) is None
    assert "--seed" in capsys.readouterr().err


def test_the_extension_registers_the_cell_magic_in_ipython():
    interactive = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactive.InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "cramnet.notebook")
        result = shell.run_cell_magic("cram", "clf --seed 1", CELL)
        assert isinstance(result, CheckedModel)
        assert shell.user_ns["clf"](torch.zeros(1, 8)).shape == (1, 3)
    finally:
        interactive.InteractiveShell.clear_instance()
