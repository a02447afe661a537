"""`cramnet summary` as a user reads it (issue 16, summary): rows and totals agree over a batch,
--depth folds blocks and repeats, names never break inside an identifier, a "connected to" column
for graph-shaped models, stable JSON types, active parameters of a mixture of experts, the
counting conventions in the footer, and a run-time size beyond a positional table located at check."""

import json

from typer.testing import CliRunner

from cramnet.cli import app

runner = CliRunner()


def summary(*args: str, columns: int = 200):
    result = runner.invoke(app, ["summary", *args], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def as_json(*args: str) -> dict:
    return json.loads(summary(*args, "--json"))


def test_batch_multiplies_rows_and_total_alike():
    data = as_json("specs/lenet5.cram", "--batch", "8")
    single = as_json("specs/lenet5.cram")
    assert data["flops"] == sum(n["flops"] for n in data["nodes"]) == 8 * single["flops"]
    assert [n["flops"] for n in data["nodes"]] == [8 * n["flops"] for n in single["nodes"]]


def test_depth_folds_blocks_and_repeats():
    data = as_json("specs/gpt2.cram", "--depth", "1", "--dim", "seq=1024", "--batch", "2")
    rows = [n["node"] for n in data["nodes"]]
    assert rows == ["tok", "pos_embed_1", "dropout_1", "pre_ln_1…pre_ln_12", "layernorm_1", "logits"]
    assert data["params"] == 124_439_808 == sum(n["params"] for n in data["nodes"])
    assert data["flops"] == sum(n["flops"] for n in data["nodes"])
    assert data["nodes"][4]["inputs"] == ["pre_ln_1…pre_ln_12"]
    assert len(as_json("specs/gpt2.cram", "--depth", "2")["nodes"]) == 17  # one row per layer
    table = summary("specs/gpt2.cram", "--depth", "1")
    assert "pre_ln × 12" in table and "125 layers, 6 rows" in table


def test_names_break_after_dots_in_80_columns(monkeypatch):
    from cramnet import cli

    monkeypatch.setattr(cli.out, "width", 80)
    table = summary("specs/mixtral_small.cram")
    assert max(len(line) for line in table.splitlines() if line.startswith(("│", "┃"))) <= 80
    names = {n["node"] for n in as_json("specs/mixtral_small.cram")["nodes"]} | {"ids", "total"}
    rows: list[list[str]] = []
    for line in table.splitlines():
        if line.startswith("│"):
            node, block = (cell.strip() for cell in line.split("│")[1:3])
            if block:
                rows.append([node])
            elif node:
                rows[-1].append(node)
    assert any(len(parts) > 1 for parts in rows)  # some names did need breaking
    for parts in rows:
        assert "".join(parts) in names, parts  # the pieces make the whole name again
        assert all(part.endswith(".") for part in parts[:-1]), parts  # broken after a dot only


def test_connected_to_for_graph_shaped_models():
    table = summary("specs/resnet_digits.cram")
    assert "connected to" in table
    assert "connected to" not in summary("specs/lenet5.cram")  # a chain: every row reads the one above
    data = as_json("specs/resnet_digits.cram")
    adds = [n for n in data["nodes"] if n["block"] == "add"]
    assert adds and all(len(n["inputs"]) == 2 for n in adds)


def test_json_types_are_stable():
    symbolic = as_json("specs/gpt2.cram")
    sized = as_json("specs/gpt2.cram", "--dim", "seq=64")
    for data in (symbolic, sized):
        for node in data["nodes"]:
            assert isinstance(node["shape"], list) and isinstance(node["params"], int)
            assert node["flops"] is None or isinstance(node["flops"], int)
            assert isinstance(node["flops_formula"], str)
    assert symbolic["nodes"][0]["shape"] == ["seq", 768] and sized["nodes"][0]["shape"] == [64, 768]
    assert symbolic["flops"] is None and isinstance(sized["flops"], int)
    assert isinstance(sized["memory"]["total"], int) and symbolic["memory"]["activations"] is None


def test_moe_active_parameters_and_footer():
    data = as_json("specs/mixtral_small.cram")
    assert data["active_params"] < data["params"]
    assert as_json("specs/lenet5.cram")["active_params"] is None
    table = summary("specs/mixtral_small.cram")
    assert "active parameters" in table
    assert "a multiply-add counts 2 FLOPs" in table and "each node's output only" in table


def test_a_size_beyond_a_positional_table_is_located_at_check(tmp_path):
    spec = tmp_path / "pos.cram"
    spec.write_text(
        "model m {\n    input ids: tokens[seq]\n"
        "    ids -> embed(50, 8) -> pos_embed(16) -> dense(4) as y\n    output y\n}\n"
    )
    for command in ("summary", "compile"):
        result = runner.invoke(app, [command, str(spec), "--dim", "seq=32"], env={"COLUMNS": "200"})
        assert result.exit_code == 1 and "E403" in result.output and "pos.cram:3:28" in result.output
        assert "table only 16" in result.output and "pos_embed(32)" in result.output
    assert runner.invoke(app, ["summary", str(spec), "--dim", "seq=16"]).exit_code == 0
