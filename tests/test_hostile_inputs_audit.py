"""An attacker's and a careless user's inputs, found by an audit of docs/security.md's guarantees: each
one ends in one clear message, quickly, or works — never a hang, a traceback or another file's text."""

from __future__ import annotations

import json
import os
import threading
import warnings

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.dsl.errors import SpecErrors

from .test_security import MLP as TINY

runner = CliRunner()


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


def _errors_beside_a_pipe(fifo, spec):
    """The errors of `spec`, and whether the pipe `fifo` had to be opened by a writer for them to come
    (after 10 s, so that a reader waiting on the pipe fails the test instead of hanging it)."""
    unblock = opened_fifo(fifo)
    timer = threading.Timer(10.0, unblock.start)
    timer.start()
    try:
        return errors_of(spec), unblock.ident is not None
    finally:
        timer.cancel()


def test_a_use_of_a_named_pipe_is_refused_not_waited_on(tmp_path):
    (tmp_path / "m.cram").write_text(model("x -> relu as y", 'use "pipe.cram"\n'))
    (error,), waited = _errors_beside_a_pipe(tmp_path / "pipe.cram", tmp_path / "m.cram")
    assert error.code == "E201" and "not a regular file" in error.message
    assert not waited  # refused at once, not after the pipe opened


def test_a_groups_file_that_is_a_pipe_is_refused_not_waited_on(tmp_path):
    (tmp_path / "m.cram").write_text(model('x -> group(3, 2, groups = "groups.txt") -> flatten as y', size=10))
    (error,), waited = _errors_beside_a_pipe(tmp_path / "groups.txt", tmp_path / "m.cram")
    assert "not a regular file" in error.message and not waited


# -- a run directory's run.json ----------------------------------------------------------------


def edit_run_json(run, **changes) -> None:
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, **changes}))


def test_a_run_reads_its_own_tokenizer_copy_not_the_file_run_json_names(tmp_path, trained):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.json").write_text('{"secret": "s3cr3t"')
    edit_run_json(trained, tokenizer={"kind": "published", "file": str(elsewhere / "secret.json")})
    result = runner.invoke(app, ["evaluate", str(trained)])
    assert result.exit_code == 1
    assert "secret.json" not in result.output and str(trained / "tokenizer.json") in result.output


@pytest.mark.parametrize(
    "tokenizer",
    ["byte", {"kind": "char"}, {"kind": "genes", "genes": 3}, {"kind": "char", "chars": [1]}, {"kind": "pickle"}],
)
def test_a_tokenizer_entry_cramnet_never_wrote_is_one_message(trained, tokenizer):
    edit_run_json(trained, tokenizer=tokenizer)
    result = runner.invoke(app, ["evaluate", str(trained)])
    assert result.exit_code == 1, result.output
    assert "its tokenizer is not one cramnet writes" in result.output


# -- published checkpoints ---------------------------------------------------------------------


@pytest.mark.parametrize("shard", ["../other/model.safetensors", "ABSOLUTE", "sub/../../other/model.safetensors"])
def test_an_index_of_shards_reads_no_file_outside_its_directory(tmp_path, shard):
    from safetensors.torch import save_file

    from cramnet.errors import TrainError
    from cramnet.weights.checkpoint import open_checkpoint

    (tmp_path / "other").mkdir()
    save_file({"w": torch.zeros(2)}, tmp_path / "other" / "model.safetensors")
    published = tmp_path / "published"
    published.mkdir()
    shard = str(tmp_path / "other" / "model.safetensors") if shard == "ABSOLUTE" else shard
    (published / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": shard}}))
    with pytest.raises(TrainError, match="is not a file name in"):
        open_checkpoint(published)


# -- names that reach generated source ---------------------------------------------------------


def test_a_name_python_would_mangle_keeps_its_module_path():
    """`self.__hidden` inside a class is `self._Tiny__hidden`: checkpoints, --freeze and probes
    would look for a module path that is not there."""
    from cramnet.weights.load import freeze

    text = TINY.replace("dense(16)", "dense(16) as __hidden").replace("relu", "relu as __act")
    checked = check_spec(text)
    module = checked.build(seed=0)
    keys = {key for key, _ in module.named_parameters()}
    assert not any("_Tiny__" in key for key in keys), keys
    assert {key.split(".")[0] for key in keys} == {checked.module_path("__hidden"), "logits"}
    assert freeze(module, checked, ["__hidden"]) == [
        f"{checked.module_path('__hidden')}.{p}" for p in ("weight", "bias")
    ]
    assert module(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("name", ["__dict", "__class", "__init", "__x_mask", "___", "__"])
def test_names_that_collide_with_python_still_build(name):
    text = TINY.replace("dense(16)", f"dense(16) as {name}")
    module = check_spec(text).build(seed=0)
    assert module(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert len(list(module.parameters())) == 4


# -- terminal control sequences in what errors print -------------------------------------------

TITLE = "\x1b]0;owned\x07\x1b[2J\x9b31m"  # set the window title, clear the screen, a C1 CSI


def test_control_characters_of_a_spec_never_reach_the_terminal(tmp_path):
    spec = tmp_path / "m.cram"
    spec.write_text(model(f"x -> relu as y $ # {TITLE}"), encoding="utf-8")
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output and "\x9b" not in result.output
    assert "\u241b]0;owned\u2407" in result.output  # shown as control pictures, one column each
    caret = result.output.splitlines()[3]
    assert caret.index("^") == result.output.splitlines()[2].index("$")


def test_control_characters_of_a_path_never_reach_the_terminal(tmp_path):
    text = model(f'x -> group(3, 2, groups = "{TITLE}.txt") -> flatten as y', size=10)
    (tmp_path / "m.cram").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "m.cram")])
    assert result.exit_code == 1 and "\x1b" not in result.output and "\x07" not in result.output
    result = runner.invoke(app, ["train", str(tmp_path / "m.cram"), "--data", f"{TITLE}.csv"])
    assert result.exit_code == 1 and "\x1b" not in result.output and "\x07" not in result.output


# -- data files --------------------------------------------------------------------------------


def test_a_csv_is_read_in_memory_near_its_table_not_as_python_strings(tmp_path):
    """A 774 MB CSV of 65 columns took 18.7 GB (and two minutes, unfinished) as lists of strings."""
    import tracemalloc

    from cramnet.train.data.files import read_arrays

    rows, columns = 20_000, 64
    path = tmp_path / "wide.csv"
    line = ",".join(["0.5"] * columns) + ",1\n"
    path.write_text(",".join(f"f{i}" for i in range(columns)) + ",y\n" + line * rows)
    tracemalloc.start()
    try:
        arrays = read_arrays(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert arrays["x"].shape == (rows, columns) and arrays["y"].shape == (rows,)
    table = rows * (columns + 1) * 4
    assert peak < 3 * table + (4 << 20), f"peak {peak >> 20} MiB for a {table >> 20} MiB table"


def test_a_csv_value_that_is_not_a_number_is_shown_short(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,y\n" + "s3cr3t" * 10_000 + ",1\n")
    from cramnet.errors import TrainError
    from cramnet.train.data.files import read_arrays

    with pytest.raises(TrainError, match="line 2") as failure:
        read_arrays(path)
    assert len(str(failure.value)) < 300


def test_tables_with_a_field_past_the_csv_limit_are_one_message(tmp_path):
    """csv.Error (a field over 131,072 characters) escaped as an internal error."""
    from cramnet.errors import TrainError
    from cramnet.train.data.events import is_event_table, read_rows
    from cramnet.train.data.fasta import side_labels

    huge = "9" * 200_000
    events = tmp_path / "events.csv"
    events.write_text(f"person,age,code\n1,{huge},A\n")
    with pytest.raises(TrainError, match="field larger than field limit"):
        read_rows(events)
    header = tmp_path / "header.csv"
    header.write_text(f"person,{huge}\n1,2\n")
    assert not is_event_table(header)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"id,label\nP1,{huge}\n")
    with pytest.raises(TrainError, match="field larger than field limit"):
        side_labels(tmp_path / "x.fasta", [("P1", "", "MK")], labels)


# -- configs -----------------------------------------------------------------------------------


def test_a_thread_count_past_any_machine_is_refused(tmp_path):
    """threads: 100000 crashed the process with SIGSEGV in torch's thread pool."""
    from cramnet.errors import CramnetError
    from cramnet.train import apply_sets, defaults

    assert apply_sets(defaults(), ["threads=1024"])["threads"] == 1024
    with pytest.raises(CramnetError, match="'threads' must be from 0 to 1024, not 100000"):
        apply_sets(defaults(), ["threads=100000"])
    (tmp_path / "run.yaml").write_text("threads: 100000\n")
    result = runner.invoke(app, ["train", "x.cram", "--config", str(tmp_path / "run.yaml")])
    assert result.exit_code == 1 and "'threads' must be from 0 to 1024" in result.output


# -- a run directory's weights -----------------------------------------------------------------


def test_a_checkpoint_whose_header_claims_more_than_memory_is_refused_before_reading(trained):
    """A sparse model.safetensors claiming a 400 GB tensor was an internal error (mmap failed); one
    that mapped would have been read and hashed whole."""
    import struct

    header = json.dumps({"a": {"dtype": "F32", "shape": [10**11], "data_offsets": [0, 4 * 10**11]}}).encode()
    with open(trained / "model.safetensors", "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        handle.truncate(8 + len(header) + 4 * 10**11)  # sparse: no disk, and no time, spent
    result = runner.invoke(app, ["evaluate", str(trained)])
    assert result.exit_code == 1, result.output
    assert "model.safetensors: its tensors hold 372.5 GiB, more than the" in result.output


# -- the language server -----------------------------------------------------------------------


def test_the_language_server_checks_no_buffer_larger_than_a_spec_file_may_be():
    """A 10 MB buffer of 200,000 small models kept the server checking for over five minutes."""
    from cramnet.lsp.analysis import analyze

    text = "".join(f"model m{i} {{\n    input x: [4]\n    x -> relu as y\n    output y\n}}\n" for i in range(20_000))
    analysis = analyze(text, "/tmp/big.cram")  # refused whole: nothing parsed or checked
    (error,) = analysis.errors
    assert error.code == "E200" and "larger than 1 MiB" in error.message and error.span.line == 1


def test_the_language_server_reads_used_files_as_the_checker_does(tmp_path):
    from cramnet.lsp.analysis import analyze

    (tmp_path / "big.cram").write_text("block b() {\n    relu\n}\n# " + "x" * (2 << 20) + "\n")
    (tmp_path / "notes.txt").write_text("block n() {\n    relu\n}\n")
    (tmp_path / "notes.cram").symlink_to(tmp_path / "notes.txt")
    (tmp_path / "ok.cram").write_text("block ok() {\n    relu\n}\n")
    text = model("x -> ok as y", 'use "big.cram"\nuse "notes.cram"\nuse "ok.cram"\n')
    analysis = analyze(text, str(tmp_path / "m.cram"))
    assert list(analysis.used_trees()) == [str(tmp_path / "ok.cram")]


@pytest.mark.parametrize("where", ["file", "set"])
def test_an_integer_longer_than_python_converts_is_one_message(tmp_path, where):
    """Python refuses int() of more than 4,300 digits: a ValueError that escaped as an internal error."""
    result = config_result(tmp_path, where, "epochs", "9" * 5000)
    assert result.exit_code == 1, result.output
    assert "integer of 5000 digits" in result.output and "9" * 100 not in result.output


@pytest.mark.parametrize("where", ["file", "set"])
def test_a_value_nested_too_deeply_is_one_message(tmp_path, where):
    result = config_result(tmp_path, where, "epochs", "[" * 20_000 + "]" * 20_000)
    assert result.exit_code == 1, result.output
    assert "nested too deeply" in result.output


def config_result(tmp_path, where: str, key: str, value: str):
    (tmp_path / "tiny.cram").write_text(TINY)
    if where == "file":
        (tmp_path / "run.yaml").write_text(f"{key}: {value}\n")
        flags = ["--config", str(tmp_path / "run.yaml")]
    else:
        flags = ["--set", f"{key}={value}"]
    return runner.invoke(app, ["train", str(tmp_path / "tiny.cram"), *flags, "--out", str(tmp_path / "run")])


# -- command-line flags ------------------------------------------------------------------------


@pytest.mark.parametrize("sign, fragment", [("", "at most 2,147,483,647"), ("-", "at least 1")])
def test_a_dim_of_thousands_of_digits_is_one_message(tmp_path, sign, fragment):
    (tmp_path / "s.cram").write_text(
        "model s {\n    input ids: tokens[seq]\n    ids -> embed(100, 16) as y\n    output y\n}\n"
    )
    result = runner.invoke(app, ["summary", str(tmp_path / "s.cram"), "--dim", f"seq={sign}{'9' * 5000}"])
    assert result.exit_code == 1, result.output
    assert fragment in result.output and len(result.output) < 400


def test_a_prompt_id_of_thousands_of_digits_is_one_message():
    from cramnet.errors import TrainError
    from cramnet.train.generation import parse_ids

    assert parse_ids("464, 2068 00007") == [464, 2068, 7]
    with pytest.raises(TrainError, match=r"\(5000 digits\) is no vocabulary's token id"):
        parse_ids("464 " + "9" * 5000)


def test_a_sparse_h5ad_whose_dense_matrix_would_not_fit_is_refused_before_densifying(tmp_path, monkeypatch):
    """A 17 MB sparse .h5ad of 200,000 × 200,000 cells and genes asked for 149 GiB: an internal error
    (MemoryError), and a shape just under the machine's memory would have filled it."""
    import anndata
    import scipy.sparse as sparse

    from cramnet.errors import TrainError
    from cramnet.train.data.h5ad import expression_matrix

    monkeypatch.setattr("cramnet.compiler.memory.available", lambda device: 1 << 20)
    x = sparse.csr_matrix((np.ones(2, np.float32), ([0, 1], [0, 1])), shape=(1000, 1000))
    with pytest.raises(TrainError, match=r"x.h5ad: its expression matrix, 1000 cells × 1000 genes, needs 3.8 MiB"):
        expression_matrix(tmp_path / "x.h5ad", anndata.AnnData(X=x))
    monkeypatch.setattr("cramnet.compiler.memory.available", lambda device: 1 << 30)
    assert expression_matrix(tmp_path / "x.h5ad", anndata.AnnData(X=x)).shape == (1000, 1000)


def test_an_h5ad_of_text_values_is_one_message(tmp_path):
    import anndata

    from cramnet.errors import TrainError
    from cramnet.train.data.h5ad import expression_matrix

    with pytest.raises(TrainError, match="x.h5ad: the expression matrix holds <U1 values, not numbers"):
        expression_matrix(tmp_path / "x.h5ad", anndata.AnnData(X=np.array([["a", "b"], ["c", "d"]])))


def test_a_fasta_record_of_millions_of_letters_is_read_in_time_and_memory_near_its_size(tmp_path, monkeypatch):
    """A 300 MB record took 82 s and 5.2 GB: the file read whole, split, joined and copied, each
    letter a Python int in a list, though only the first `length` ids are kept. Chunks of 64 Ki
    letters: the default's 1 Mi left ~20 MB of temporaries, a margin other threads' allocations
    (xdist's) used up."""
    import tracemalloc

    from cramnet.train.data import alphabets
    from cramnet.train.data.fasta import FASTA_OPTIONS, encode_records, read_records

    monkeypatch.setattr(alphabets, "CHUNK", 1 << 16)

    letters = 5_000_000
    path = tmp_path / "long.fasta"
    path.write_text(">p1 EC=1\n" + "M" * letters + "\n>p2 EC=2\nMKVL\n\n")
    tracemalloc.start()
    try:
        records = read_records(path)
        tokens, mask, alphabet = encode_records(path, records, dict(FASTA_OPTIONS), vocab=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * letters, f"peak {peak >> 20} MiB for {letters >> 20} M letters"
    assert [r[:2] for r in records] == [("p1", "p1 EC=1"), ("p2", "p2 EC=2")] and len(records[0][2]) == letters
    assert tokens.shape == (2, 1024) and mask.sum() == 1024 + 4 and alphabet.name == "amino-acid"


def test_a_letter_outside_the_alphabet_far_into_a_record_is_found_where_it_is(tmp_path):
    from cramnet.errors import TrainError
    from cramnet.train.data.fasta import FASTA_OPTIONS, encode_records

    records = [("p1", "p1", "m" * 3_000_000 + "-*.J" + "M" * 10)]
    options = dict(FASTA_OPTIONS) | {"alphabet": "protein"}
    with pytest.raises(TrainError, match=r"record 'p1' has 'J' at position 3000001, outside the amino-acid alphabet"):
        encode_records(tmp_path / "x.fasta", records, options, vocab=None)
    tokens, mask, _ = encode_records(tmp_path / "x.fasta", records, options | {"unknown": "map", "length": 4}, None)
    assert tokens.tolist() == [[10, 10, 10, 10]] and mask.all()


def test_a_tokenizer_json_larger_than_any_is_refused_unread(tmp_path):
    from cramnet.errors import TrainError
    from cramnet.weights.tokenizer import open_tokenizer

    with open(tmp_path / "tokenizer.json", "wb") as handle:
        handle.truncate(4 << 30)  # sparse: 4 GiB that the tokenizers package would read whole
    with pytest.raises(TrainError, match=r"tokenizer.json: 4,096 MiB, larger than any tokenizer.json"):
        open_tokenizer(tmp_path)


def test_a_compressed_dense_h5ad_too_large_to_read_is_refused_before_reading(tmp_path, monkeypatch):
    """gzip holds a dense matrix of zeros of any size in kilobytes; anndata read it whole before any check."""
    import anndata

    from cramnet.errors import TrainError
    from cramnet.train.data.h5ad import read_h5ad

    path = tmp_path / "zeros.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anndata.AnnData(X=np.zeros((1000, 1000), np.float32)).write_h5ad(path, compression="gzip")
    assert path.stat().st_size < 100_000
    monkeypatch.setattr("cramnet.compiler.memory.available", lambda device: 1 << 20)
    read = []
    monkeypatch.setattr(
        anndata,
        "read_h5ad",
        lambda p, backed=None, _read=anndata.read_h5ad: read.append(backed) or _read(p, backed=backed),
    )
    with pytest.raises(TrainError, match=r"zeros.h5ad: its expression matrix, 1000 cells × 1000 genes, needs 3.8 MiB"):
        read_h5ad(path)
    assert read == ["r"]  # the header only
    monkeypatch.setattr("cramnet.compiler.memory.available", lambda device: 1 << 30)
    assert read_h5ad(path).shape == (1000, 1000)
