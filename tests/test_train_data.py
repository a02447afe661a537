"""Built-in data sets and user files: shapes, fixed seeded splits, clear messages for bad files."""

import numpy as np
import pytest
import torch

from cramnet.blocks.tensor_type import TensorType
from cramnet.train.data import default_data, load_data
from cramnet.train.data.sequences import IGNORE
from cramnet.train.errors import TrainError

IMAGE = {"image": TensorType((1, 8, 8), "float")}
TOKENS = {"ids": TensorType(("seq",), "tokens")}


def load(name, types=IMAGE, task="auto", options=None, seed=0, vocab=None):
    return load_data(name, types, task, seed, (None, None), options or {}, vocab)


def test_digits_are_images_with_fixed_stratified_splits():
    data = load("digits")
    assert data.task == "classification" and data.classes == 10
    assert data.train.inputs["image"].shape[1:] == (1, 8, 8)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert 0 <= float(data.train.inputs["image"].min()) and float(data.train.inputs["image"].max()) <= 1
    again = load("digits")
    assert torch.equal(again.test.target, data.test.target)
    assert torch.bincount(data.test.target).min() >= 20  # every class in the test split
    flat = load("digits", {"x": TensorType((64,), "float")})
    assert flat.train.inputs["x"].shape[1:] == (64,)


def test_breast_cancer_is_standardised_on_train():
    data = load("breast_cancer", {"x": TensorType((30,), "float")})
    assert data.classes == 2 and torch.allclose(data.train.inputs["x"].mean(0), torch.zeros(30), atol=1e-4)


def test_karate_is_one_graph_with_a_stratified_node_split():
    data = load("karate", {"club": TensorType((34, 34), "graph")})
    masks = [data.train.mask, data.val.mask, data.test.mask]
    assert sum(int(m.sum()) for m in masks) == 34 and not (masks[0] & masks[2]).any()
    assert data.train.graph.edge_index.shape == (2, 156) and data.classes == 2
    assert set(data.test.target[data.test.mask].tolist()) == {0, 1}


def test_synthetic_sequence_tasks_follow_the_papers():
    copy = load("selective_copy", TOKENS, options={"count": 50, "length": 20, "tokens": 4, "vocab": 8})
    x, y = copy.train.inputs["ids"], copy.train.target
    assert x.shape[1] == 24 and (x[:, 20:] == 1).all()
    answers = y[:, 20:]
    assert (y[:, :20] == IGNORE).all() and ((answers >= 2) & (answers < 8)).all()
    data_tokens = x[:, :20][x[:, :20] > 1].reshape(len(x), 4)
    assert torch.equal(data_tokens, answers)  # the scattered tokens, in order
    induction = load("induction", TOKENS, options={"count": 30, "length": 16})
    x, y = induction.train.inputs["ids"], induction.train.target
    first = (x[:, :-1] == 1).int().argmax(1)
    assert torch.equal(y[:, -1], x[torch.arange(len(x)), first + 1])
    adding = load("adding", {"x": TensorType(("seq", 2), "float")}, options={"count": 20, "length": 10})
    x, y = adding.train.inputs["x"], adding.train.target
    assert torch.allclose((x[..., 0] * x[..., 1]).sum(1, keepdim=True), y) and (x[..., 1].sum(1) == 2).all()


def test_options_are_checked_and_suggested():
    with pytest.raises(TrainError, match="no option 'lenght'") as failure:
        load("selective_copy", TOKENS, options={"lenght": 10})
    assert "length" in failure.value.hint
    with pytest.raises(TrainError, match="no built-in data set 'digts'") as failure:
        load("digts")
    assert "digits" in failure.value.hint


def test_text_corpus_with_byte_and_char_tokenizers():
    data = load("text", TOKENS, options={"length": 32}, vocab=256)
    assert data.task == "language_model" and data.train.inputs["ids"].shape[1] == 32
    assert torch.equal(data.train.inputs["ids"][:, 1:], data.train.target[:, :-1])
    with pytest.raises(TrainError, match="needs 256 token ids but the model's embedding has 40"):
        load("text", TOKENS, vocab=40)
    chars = load("text", TOKENS, options={"tokenizer": "char"}, vocab=100)
    assert chars.tokenizer.vocab < 100 and chars.tokenizer.decode(chars.tokenizer.encode("the net")) == "the net"


def test_defaults_from_the_model():
    ten = {"logits": TensorType((10,), "float")}
    assert default_data(IMAGE, ten) == "digits"
    assert default_data(IMAGE, {"r": TensorType((1, 8, 8), "float")}) == "digits"
    assert default_data({"c": TensorType((34, 34), "graph")}, {"l": TensorType((34, 2), "graph")}) == "karate"
    assert default_data(TOKENS, {"l": TensorType(("seq", 256), "float")}) == "text"
    assert default_data({"x": TensorType((5,), "float")}, ten) is None


def test_user_files_npz_csv_safetensors(tmp_path):
    x = np.random.rand(40, 1, 8, 8).astype(np.float32)
    y = np.arange(40) % 3
    np.savez(tmp_path / "d.npz", image=x, y=y)
    data = load(str(tmp_path / "d.npz"))
    assert data.classes == 3 and data.train.inputs["image"].shape[1:] == (1, 8, 8)
    from safetensors.numpy import save_file

    save_file({"x": x, "y": y.astype(np.int64)}, str(tmp_path / "d.safetensors"))
    assert load(str(tmp_path / "d.safetensors")).classes == 3
    rows = ["y," + ",".join(f"p{i}" for i in range(64))] + [f"{i % 2}," + ",".join(["0.5"] * 64) for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    data = load(str(tmp_path / "d.csv"))
    assert data.classes == 2 and data.train.inputs["image"].shape[1:] == (1, 8, 8)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.npz", b"not a zip", "bad.npz: not a readable .npz file"),
        ("bad.safetensors", b"\x00\x01", "bad.safetensors: not a readable .safetensors file"),
        ("nocol.csv", b"a,b\n1,2\n", "nocol.csv: no target column"),
        ("ragged.csv", b"y,a\n1,2\n1\n", "ragged.csv, line 3: 1 columns, the header has 2"),
        ("words.csv", b"y,a\n1,two\n", "words.csv, line 2: 'two' is not a number"),
        ("data.xlsx", b"", "cramnet reads .npz, .safetensors, .csv and .txt files"),
    ],
)
def test_malformed_files_get_one_clear_message(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TrainError) as failure:
        load(str(tmp_path / name))
    assert message in str(failure.value)


def test_blank_lines_in_a_csv_are_skipped_and_lines_keep_their_numbers(tmp_path):
    # a blank line was a ragged row: "line 2: 0 columns, the header has 65"
    header = "y," + ",".join(f"p{i}" for i in range(64))
    rows = [f"{i % 2}," + ",".join(["0.5"] * 64) for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join([header, "", *rows[:10], "", *rows[10:], "", ""]) + "\n")
    assert load(str(tmp_path / "d.csv")).classes == 2
    (tmp_path / "bad.csv").write_text("\n".join([header, "", rows[0], rows[1].replace("0.5", "half", 1)]) + "\n")
    with pytest.raises(TrainError, match=r"bad.csv, line 4: 'half' is not a number"):
        load(str(tmp_path / "bad.csv"))
    (tmp_path / "blank.csv").write_text(header + "\n\n\n")
    with pytest.raises(TrainError, match="needs a header row and at least one example row"):
        load(str(tmp_path / "blank.csv"))


def test_shapes_that_do_not_fit_and_pickles_are_refused(tmp_path):
    np.savez(tmp_path / "wrong.npz", image=np.zeros((10, 3, 8, 8), np.float32), y=np.zeros(10, np.int64))
    with pytest.raises(TrainError, match=r"wrong.npz: 'image' has examples of shape \[3, 8, 8\]; input 'image'"):
        load(str(tmp_path / "wrong.npz"))
    np.savez(tmp_path / "missing.npz", pixels=np.zeros((10, 1, 8, 8), np.float32))
    with pytest.raises(TrainError, match="no array named 'image'"):
        load(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "objects.npz", image=np.array([{"a": 1}] * 10, dtype=object), y=np.zeros(10))
    with pytest.raises(TrainError, match="never loads"):
        load(str(tmp_path / "objects.npz"))
