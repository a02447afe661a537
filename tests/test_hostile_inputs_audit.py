"""An attacker's and a careless user's inputs, found by an audit of docs/security.md's guarantees: each
one ends in one clear message, quickly, or works — never a hang, a traceback or another file's text."""

from __future__ import annotations

import os
import threading

import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.dsl.errors import SpecErrors

runner = CliRunner()

TINY = """
model tiny {
    input image: [1, 8, 8]
    image -> flatten -> dense(16) -> relu -> dense(10) as logits
    output logits
}
"""


def model(body: str, before: str = "", size: int = 4) -> str:
    return f"{before}model m {{\n    input x: [{size}]\n    {body}\n    output y\n}}\n"


def errors_of(text, **limits) -> list:
    with pytest.raises(SpecErrors) as failure:
        check_spec(text, **limits)
    return failure.value.errors


@pytest.fixture
def trained(tmp_path):
    from cramnet.train import apply_sets, defaults, train

    spec = tmp_path / "tiny.cram"
    spec.write_text(TINY)
    return train(spec, apply_sets(defaults(), [f"out={tmp_path / 'run'}", "epochs=1", "threads=1"])).out


def opened_fifo(path):
    """A named pipe at `path`; the thread returned unblocks a reader that opened it (so a failing
    test ends) by opening it for writing and closing it again."""
    os.mkfifo(path)

    def unblock():
        with open(path, "wb"):
            pass

    return threading.Thread(target=unblock, daemon=True)


# -- `use` and `groups` paths ------------------------------------------------------------------


def test_a_use_of_a_link_named_cram_to_another_file_shows_nothing_of_it(tmp_path):
    (tmp_path / "passwd.cram").symlink_to("/etc/passwd")
    spec = tmp_path / "m.cram"
    spec.write_text(model("x -> relu as y", 'use "passwd.cram"\n'))
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert "root:" not in result.output
    assert "error[E201]" in result.output and "/etc/passwd" in result.output and "ending in .cram" in result.output


def test_a_use_of_a_named_pipe_is_refused_not_waited_on(tmp_path):
    unblock = opened_fifo(tmp_path / "pipe.cram")
    (tmp_path / "m.cram").write_text(model("x -> relu as y", 'use "pipe.cram"\n'))
    timer = threading.Timer(2.0, unblock.start)
    timer.start()
    try:
        (error,) = errors_of(tmp_path / "m.cram")
    finally:
        timer.cancel()
    assert error.code == "E201" and "not a regular file" in error.message
    assert not unblock.is_alive() and not unblock.ident  # refused at once, not after the pipe opened


def test_a_groups_file_that_is_a_pipe_is_refused_not_waited_on(tmp_path):
    unblock = opened_fifo(tmp_path / "groups.txt")
    text = model('x -> group(3, 2, groups = "groups.txt") -> flatten as y', size=10)
    (tmp_path / "m.cram").write_text(text)
    timer = threading.Timer(2.0, unblock.start)
    timer.start()
    try:
        (error,) = errors_of(tmp_path / "m.cram")
    finally:
        timer.cancel()
    assert "not a regular file" in error.message
    assert not unblock.ident
