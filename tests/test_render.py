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
# every spec but search spaces (specs/search/: `choice(…)` lets, drawn once a point is fixed)
SPECS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("specs/**/*.cram") if "search" not in p.parts)
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
    assert basic.params == sum(graph.nodes[n].params for n in graph if n.startswith("basic_1."))
    assert "basic_1.conv2d_1" in basic.children[0].boxes  # inside the residual inside the block
    assert diagram.boxes["basic_1.conv2d_1"].text == "conv2d(32, 3, pad=1, bias=false)"


def test_a_standard_library_call_is_located_by_its_std_name_not_where_it_is_installed():
    # the gallery's tooltips held /work/main/blocks/std/transformer.cram: another checkout drew other files
    diagram = build_diagram(check_spec("specs/vit_digits.cram").model, Options())
    wheres = {box.where for box in diagram.boxes.values() if box.where}
    assert any(w.startswith("std:transformer:") for w in wheres)
    assert not any("blocks/std" in w for w in wheres)


def test_repeats_collapse_to_the_first_copy():
    checked = check_spec(STACK)
    collapsed = build_diagram(checked.model)
    assert "mamba_layer_1.mamba_1" in collapsed.boxes and "mamba_layer_2.mamba_1" not in collapsed.boxes
    assert "attention_layer_2.attention_1" not in collapsed.boxes
    labels = [c.label for c in collapsed.root.walk()]
    assert any(label.startswith("× 2") for label in labels) and any(label.startswith("× 3") for label in labels)
    outer = next(c for c in collapsed.root.walk() if c.label.startswith("× 2"))
    graph = checked.graph
    assert outer.params == sum(graph.nodes[n].params for n in graph if "_layer_" in n)  # all copies
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
    assert {"mixed", "mixed.mix", "mixed.body1.lstm_1", "mixed.body2.dense_1"} <= set(diagram.boxes)
    moe = next(c for c in diagram.root.walk() if c.kind == "bodies")
    assert [c.kind for c in moe.children] == ["body"] * 3 and moe.params == checked.graph.nodes["mixed"].params
    assert any(e.source == "mixed" and e.kind == "route" for e in diagram.edges)
    assert any(e.source == "mixed.mix" and e.target == "out" for e in diagram.edges)
    assert any(e.source == "mixed.body1.lstm_1" and e.target == "mixed.mix" for e in diagram.edges)


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
    assert diagram.families == ["activations", "conv", "dense", "shape"]  # flatten is a shape op, not dense


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
    assert result.exit_code == 1 and "apt-get install graphviz" in result.output  # the .svg asked for is missing
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


# -- issue 16: what a new user tripped on ---------------------------------------------------------


def _dot_edges(source: str) -> set[tuple[str, str]]:
    """(tail, head) of every edge in DOT source, quotes removed."""
    found = re.findall(r'^\s*("[^"]+"|[\w.]+) -> ("[^"]+"|[\w.]+)', source, re.M)
    return {(a.strip('"'), b.strip('"')) for a, b in found}


def _render_dot(tmp_path, spec: str, *flags: str) -> str:
    out = tmp_path / (Path(spec).stem + ".dot")
    result = runner.invoke(app, ["render", spec, "-o", str(out), *flags])
    assert result.exit_code == 0, result.output
    return out.read_text()


def _chain_connected(source: str) -> bool:
    edges = _dot_edges(source)
    import networkx as nx

    graph = nx.DiGraph(list(edges))
    return nx.is_weakly_connected(graph)


@pytest.mark.parametrize(
    "spec", ["specs/gpt2.cram", "specs/reference/resnet50.cram", "specs/translator.cram", "specs/jamba.cram"]
)
def test_depth_0_keeps_edges_out_of_collapsed_repeats(tmp_path, spec):
    source = _render_dot(tmp_path, spec, "--depth", "0")
    assert _chain_connected(source), "a box floats: an edge out of a collapsed repeat was dropped"


def test_depth_0_edges_by_name(tmp_path):
    gpt2 = _dot_edges(_render_dot(tmp_path, "specs/gpt2.cram", "--depth", "0"))
    assert ("pre_ln_1", "layernorm_1") in gpt2  # out of the collapsed × 12 stack
    translator = _render_dot(tmp_path, "specs/translator.cram", "--depth", "0")
    assert ("post_ln_1", "decoder_layer_1") in _dot_edges(translator)  # the encoder's memory reaches the decoder
    mermaid = runner.invoke(app, ["render", "specs/gpt2.cram", "--depth", "0", "--format", "mermaid"])
    ids = dict(re.findall(r"(n\d+)\[\"<b>([\w.]+)</b>", mermaid.output))
    arrows = re.findall(r"(n\d+) -+>(?:\|[^|]*\|)? (n\d+)", mermaid.output)
    assert ("pre_ln_1", "layernorm_1") in {(ids.get(a), ids.get(b)) for a, b in arrows}


def test_default_picture_of_a_deep_net_is_collapsed(tmp_path):
    source = _render_dot(tmp_path, "specs/reference/resnet50.cram")
    boxes = set(re.findall(r'^\s*("[^"]+"|[\w.]+) \[label=<', source, re.M)) - {"legend"}
    assert len(boxes) <= 60 and "bottleneck_1" in source  # 97 boxes fully open; one box per bottleneck here
    assert _chain_connected(source)
    small = _render_dot(tmp_path, "specs/lenet5.cram")
    assert "conv2d_1" in small  # a small net stays fully open


def test_labels_legend_and_families(tmp_path):
    source = _render_dot(tmp_path, "specs/mixtral_small.cram")
    assert "<br/>" not in source.split("legend")[0]  # name and call in separate cells: no underscore clash
    legend = source[source.index("legend [label=") :]
    for words in ("families", "clusters", "edges", "repeat", "residual", "mixture of experts", "tied", "routing"):
        assert words in legend, words
    router = re.search(r'"?moe_layer_1\.moe_1"? \[label=<.*?>\s', source, re.S).group(0)
    assert "512 params" in router  # the router's own weights (128 × 4), not the whole moe's
    assert "[256]" not in source and "[seq, 256]" in source  # expert edges read with their positions
    jamba = _render_dot(tmp_path, "specs/jamba.cram", "--depth", "99")
    assert "mamba(16, 2, 4)" in jamba
    from cramnet.render.palette import BLOCK_COLOUR, PLUGIN_COLOUR, family_colour

    colours = [family_colour("normalisation"), BLOCK_COLOUR, PLUGIN_COLOUR, family_colour("dense")]
    assert len(set(colours)) == 4
    assert family_colour("regularisation") != family_colour("dense") != family_colour("shape")


def test_format_and_suffix_agree_and_mermaid_to_stdout(tmp_path):
    result = runner.invoke(app, ["render", "specs/lenet5.cram", "-o", str(tmp_path / "out.svg"), "--format", "png"])
    assert result.exit_code == 1 and "does not match" in result.output and not (tmp_path / "out.svg").exists()
    result = runner.invoke(app, ["render", "specs/lenet5.cram", "--format", "mermaid"])
    assert result.exit_code == 0 and result.output.startswith("flowchart TB") and "conv2d_1" in result.output


def test_default_picture_of_a_long_chain_is_collapsed(tmp_path):
    # Jamba opens into 49 boxes, 45 of them in one chain: a strip, not a picture; a box per layer instead
    source = _render_dot(tmp_path, "specs/jamba.cram")
    assert "mamba_moe_layer_1" in source and "mamba(16, 2, 4)" not in source and _chain_connected(source)
    assert "mamba(16, 2, 4)" in _render_dot(tmp_path, "specs/jamba.cram", "--depth", "99")
    from cramnet.compiler import check_spec
    from cramnet.render.structure import readable_depth

    defaults = {spec: readable_depth(check_spec(f"specs/{spec}.cram").model) for spec in ("cram", "resnet_digits")}
    assert defaults == {"cram": None, "resnet_digits": None}  # shorter chains stay open
