"""Diagrams: every spec draws, with a box per stage named as in `summary`, clusters for blocks and
combinators, shapes on the edges; repeats collapse; Mermaid and the terminal tree; the lexer."""

import re
import shutil
from pathlib import Path

import pytest
from pygments.token import Error
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.dsl.highlight import CramLexer, highlight_excerpt
from cramnet.render import Options, build_diagram, render_file, to_dot, to_mermaid
from cramnet.render import files as render_files

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("specs/**/*.cram"))
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (CI installs it)")
runner = CliRunner()

# nested repeats, user blocks, residuals and a tied weight (a Jamba-like stack, small)
STACK = """use "std:ffn"
let d = 16
block mamba_layer() {
    residual { rmsnorm -> mamba(4, 2, 4) }
    residual { rmsnorm -> swiglu(d, 2 * d) }
}
block attention_layer() {
    residual { rmsnorm -> attention(2, causal = true) }
    residual { rmsnorm -> swiglu(d, 2 * d) }
}
model stack {
    input ids: tokens[seq]
    ids -> embed(64, d) as tok
        -> repeat 2 {
               mamba_layer * 3
               attention_layer
           }
        -> rmsnorm
        -> dense(64, bias = false, tie = tok) as logits
    output logits
}
"""


def _svg_titles(svg: str) -> set[str]:
    import html

    return {html.unescape(t) for t in re.findall(r"<title>(.*?)</title>", svg)}


@needs_dot
@pytest.mark.parametrize("spec", SPECS)
def test_every_spec_renders_to_svg(spec, tmp_path):
    checked = check_spec(spec)
    diagram = build_diagram(checked.model)
    written = render_file(checked, tmp_path / "model.svg")
    svg = written.path.read_text()
    assert not written.fallback and svg.lstrip().startswith("<?xml") and "</svg>" in svg
    titles = _svg_titles(svg)
    assert set(diagram.boxes) <= titles  # one box per stage, named as the graph's nodes
    for name in checked.inputs:
        assert name in titles
    clusters = [c for c in diagram.root.walk() if c is not diagram.root]
    assert sum(t.startswith("cluster_") and t != "cluster_legend" for t in titles) == len(clusters)
    for cluster in clusters:  # each cluster's caption, parameters included, is drawn
        assert cluster.label.split(" · ")[0].replace("&", "&amp;") in svg
    for edge in diagram.edges:  # shapes on the edges
        if edge.label:
            assert edge.label.replace("&", "&amp;") in svg


def test_boxes_are_the_summary_nodes():
    checked = check_spec("specs/resnet_digits.cram")
    diagram = build_diagram(checked.model, Options(expand=True))
    rows = {row.node for row in checked.summary().rows} | set(checked.inputs)
    boxes = {b for b, box in diagram.boxes.items() if box.family != "output"}
    assert boxes == rows
    kinds = {c.kind for c in diagram.root.walk()}
    assert {"block", "residual"} <= kinds
    basic = next(c for c in diagram.root.walk() if c.id == "basic_1")
    graph = checked.graph
    assert basic.params == sum(graph.nodes[n]["params"] for n in graph if n.startswith("basic_1."))
    assert "basic_1.conv2d_1" in basic.children[0].boxes  # inside the residual inside the block
    assert diagram.boxes["basic_1.conv2d_1"].text == "conv2d(32, 3, pad=1, bias=false)"


def test_repeats_collapse_to_the_first_copy():
    checked = check_spec(STACK)
    collapsed = build_diagram(checked.model)
    assert "mamba_layer_1.mamba_1" in collapsed.boxes and "mamba_layer_2.mamba_1" not in collapsed.boxes
    assert "attention_layer_2.attention_1" not in collapsed.boxes
    labels = [c.label for c in collapsed.root.walk()]
    assert any(label.startswith("× 2") for label in labels) and any(label.startswith("× 3") for label in labels)
    outer = next(c for c in collapsed.root.walk() if c.label.startswith("× 2"))
    graph = checked.graph
    assert outer.params == sum(graph.nodes[n].get("params", 0) for n in graph if "_layer_" in n)  # all copies
    # the last copy's output reaches the next stage from the first copy's last box
    assert any(e.source == "attention_layer_1.add_2" and e.target == "rmsnorm_1" for e in collapsed.edges)
    assert any(e.kind == "tie" and e.source == "tok" and e.target == "logits" for e in collapsed.edges)
    expanded = build_diagram(checked.model, Options(expand=True))
    assert "mamba_layer_6.mamba_1" in expanded.boxes and "attention_layer_2.add_2" in expanded.boxes
    ids = set(expanded.boxes)
    assert all(e.source in ids and e.target in ids for e in collapsed.edges + expanded.edges)


def test_depth_draws_deep_blocks_as_one_box():
    model = check_spec(STACK).model
    top = build_diagram(model, Options(depth=0))
    assert top.boxes["mamba_layer_1"].family == "block" and top.boxes["mamba_layer_1"].params > 0
    assert not any(b.startswith("mamba_layer_1.") for b in top.boxes)
    one = build_diagram(model, Options(depth=1))
    assert "mamba_layer_1.swiglu_1" in one.boxes and "mamba_layer_1.mamba_1" in one.boxes
    assert any(e.source == "mamba_layer_1.rmsnorm_2" and e.target == "mamba_layer_1.swiglu_1" for e in one.edges)


def test_moe_opens_into_its_experts():
    checked = check_spec(
        "model m {\n    input x: [64]\n    x -> dense(64) -> moe(top_k = 2) {\n"
        "        reshape([8, 8]) -> lstm(64, return = last)\n      | layernorm -> dense(64)\n      | identity\n"
        "    } as mixed -> layernorm as out\n    output out\n}\n"
    )
    diagram = build_diagram(checked.model)
    assert {"mixed", "mixed.mix", "mixed.expert1.lstm_1", "mixed.expert2.dense_1"} <= set(diagram.boxes)
    moe = next(c for c in diagram.root.walk() if c.kind == "moe")
    assert [c.kind for c in moe.children] == ["expert"] * 3 and moe.params == checked.graph.nodes["mixed"]["params"]
    assert any(e.source == "mixed" and e.kind == "route" for e in diagram.edges)
    assert any(e.source == "mixed.mix" and e.target == "out" for e in diagram.edges)
    assert any(e.source == "mixed.expert1.lstm_1" and e.target == "mixed.mix" for e in diagram.edges)


def test_parallel_branches_are_clusters():
    checked = check_spec(
        "model m {\n    input x: [16, 8, 8]\n    x -> parallel(merge = concat, dim = 0) {\n        conv2d(8, 1)\n"
        "      | conv2d(8, 3, pad = 1)\n    } as mixed\n    output mixed\n}\n"
    )
    diagram = build_diagram(checked.model)
    parallel = next(c for c in diagram.root.walk() if c.kind == "parallel")
    assert parallel.label == "parallel · concat" and parallel.boxes == ["mixed"]
    assert [c.label for c in parallel.children] == ["branch 1", "branch 2"]


def test_dot_source_options_and_legend():
    diagram = build_diagram(check_spec("specs/lenet5.cram").model, Options(rankdir="LR"))
    source = to_dot(diagram)
    assert "rankdir=LR" in source and "families" in source and "conv2d_1" in source
    assert diagram.families == ["activations", "conv", "dense"]


def test_mermaid_needs_no_graphviz():
    diagram = build_diagram(check_spec(STACK).model)
    text = to_mermaid(diagram)
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart TB" and lines.count("end") == sum(line.startswith("subgraph ") for line in lines) > 0
    defined = {m.group(1) for line in lines if (m := re.match(r"(n\d+)[\[(]", line))}
    edges = [line.split() for line in lines if "-->" in line or "-.->" in line]
    assert len(defined) == len(diagram.boxes) and edges
    assert all(edge[0] in defined and edge[-1] in defined for edge in edges)
    assert "mamba_layer_1.mamba_1" in text and "[seq, 16]" in text


def test_without_dot_the_dot_file_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(render_files, "has_dot", lambda: False)
    written = render_file(check_spec("specs/lenet5.cram"), tmp_path / "lenet.svg")
    assert written.fallback and written.path == tmp_path / "lenet.dot" and "digraph" in written.path.read_text()
    result = runner.invoke(app, ["render", "specs/lenet5.cram", "-o", str(tmp_path / "cli.svg")])
    assert result.exit_code == 0 and "apt-get install graphviz" in result.output
    assert (tmp_path / "cli.dot").exists() and not (tmp_path / "cli.svg").exists()


@needs_dot
def test_cli_render(tmp_path):
    result = runner.invoke(app, ["render", "specs/vit_digits.cram", "-o", str(tmp_path / "v.svg"), "--rankdir", "LR"])
    assert result.exit_code == 0 and (tmp_path / "v.svg").read_text().count("<svg") == 1
    result = runner.invoke(app, ["render", "specs/jamba.cram", "-o", str(tmp_path / "j.md"), "--format", "mermaid"])
    assert result.exit_code == 0 and (tmp_path / "j.md").read_text().startswith("```mermaid\nflowchart")
    result = runner.invoke(app, ["render", "specs/jamba.cram", "-o", str(tmp_path / "j.txt")])
    assert result.exit_code == 1 and "cannot tell the format" in result.output
    result = runner.invoke(app, ["render", "specs/jamba.cram", "-o", str(tmp_path / "j.svg"), "--rankdir", "XY"])
    assert result.exit_code == 1 and "--rankdir" in result.output


@needs_dot
def test_notebook_shows_the_diagram():
    svg = check_spec("specs/lenet5.cram")._repr_svg_()
    assert "<svg" in svg and "conv2d_1" in svg


def test_summary_tree(tmp_path):
    (tmp_path / "stack.cram").write_text(STACK)
    result = runner.invoke(app, ["summary", str(tmp_path / "stack.cram"), "--tree"])
    assert result.exit_code == 0, result.output
    for text in (
        "model stack",
        "× 2",
        "× 3",
        "mamba_layer_1 (mamba_layer)",
        "residual",
        "mamba_layer_6.mamba_1",
        "output logits",
    ):
        assert text in result.output
    result = runner.invoke(app, ["summary", "specs/jamba.cram", "--tree", "--json"])
    assert result.exit_code == 1


@pytest.mark.parametrize("spec", SPECS + sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("blocks/std/*.cram")))
def test_lexer_reads_every_spec(spec):
    tokens = list(CramLexer().get_tokens((ROOT / spec).read_text()))
    assert not [t for t in tokens if t[0] is Error]


def test_error_excerpts_keep_their_text():
    for line in ("  3 |     x -> convd2d(3) as a  # note", "    |          ^^^^^^^", "  12 | ", "  3 |"):
        assert highlight_excerpt(line).plain.rstrip() == line.rstrip()


def test_a_learned_tensor_has_no_edge_from_the_input_whose_batch_size_it_reads():
    checked = check_spec(
        "model m {\n    input x: [6, 4, 4]\n    lat = param([6, 1, 1])\n    y = add(x, lat)\n    output y\n}\n"
    )
    edges = {(e.source, e.target) for e in build_diagram(checked.model).edges}
    assert ("lat", "y") in edges and ("x", "y") in edges and ("x", "lat") not in edges
