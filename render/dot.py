"""A diagram as Graphviz DOT, and DOT as SVG, PNG or PDF through the `dot` program."""

from __future__ import annotations

import shutil
from html import escape

import graphviz

from .palette import (
    BLOCK_COLOUR,
    CLUSTER_MEANINGS,
    CLUSTER_STYLES,
    EDGE_MEANINGS,
    EDGE_STYLES,
    INPUT_COLOUR,
    family_colour,
)
from .structure import Box, Cluster, Diagram, cluster_caption

FONT = "Helvetica"
INSTALL_HINT = (
    "install Graphviz for the `dot` program: `apt-get install graphviz` (Debian, Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`; or use --format mermaid"
)


class GraphvizMissing(RuntimeError):
    """`dot` is not on PATH: the DOT source can still be written, but not drawn."""


def has_dot() -> bool:
    return shutil.which("dot") is not None


def to_dot(diagram: Diagram) -> str:
    """The DOT source: one box per stage, clusters for blocks and combinators, a legend."""
    dot = graphviz.Digraph(diagram.name)
    dot.attr(
        rankdir=diagram.options.rankdir,
        fontname=FONT,
        label=f"model {diagram.name}",
        labelloc="t",
        fontsize="16",
        compound="true",
        newrank="true",
        nodesep="0.3",
        ranksep="0.35",
    )
    dot.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="11", penwidth="1")
    dot.attr("edge", fontname=FONT, fontsize="9", color="#555555", fontcolor="#333333", arrowsize="0.7")
    _fill(dot, diagram, diagram.root, [0])
    for edge in diagram.edges:
        dot.edge(edge.source, edge.target, label=edge.label, **EDGE_STYLES[edge.kind])
    _legend(dot, diagram)
    return dot.source


def _fill(dot: graphviz.Digraph, diagram: Diagram, cluster: Cluster, counter: list[int]) -> None:
    for box in cluster.boxes:
        _box(dot, diagram.boxes[box])
    for child in cluster.children:
        counter[0] += 1
        with dot.subgraph(name=f"cluster_{counter[0]}") as sub:
            style = CLUSTER_STYLES.get(child.kind, CLUSTER_STYLES["block"])
            sub.attr(
                label=cluster_caption(child),
                fontsize="10",
                labeljust="l",
                fontcolor=style["color"],
                tooltip=child.id,
                **style,
            )
            _fill(sub, diagram, child, counter)


def _box(dot: graphviz.Digraph, box: Box) -> None:
    title, text = escape(box.title), escape(box.text)
    if box.family in ("input", "output"):
        shape = escape(box.shape) if box.family == "output" else ""
        dot.node(
            box.id,
            _lines(f"<b>{title}</b>", f"<font point-size='9'>{text} {shape}</font>"),
            shape="ellipse" if box.family == "input" else "oval",
            style="filled,bold",
            fillcolor=INPUT_COLOUR,
        )
        return
    fill = BLOCK_COLOUR if box.family == "block" else family_colour(box.family)
    extra = {"peripheries": "2"} if box.family == "block" else {}
    note = f"<font point-size='8' color='#555555'>{escape(_params(box.params))}</font>" if box.params else ""
    tooltip = f"{box.id}: {box.text} → {box.shape}" + (f" ({box.where})" if box.where else "")
    dot.node(
        box.id,
        _lines(f"<b>{title}</b>", f"<font point-size='10'>{text}</font>", note),
        fillcolor=fill,
        tooltip=tooltip,
        **extra,
    )


def _lines(*rows: str) -> str:
    """An HTML label of one cell per line: cells keep a bold name's underscores clear of the next line,
    which `<br/>` lines, set with no leading, do not."""
    cells = "".join(f"<tr><td>{row}</td></tr>" for row in rows if row)
    return f"<<table border='0' cellborder='0' cellspacing='0' cellpadding='1'>{cells}</table>>"


def _params(params: int) -> str:
    from .labels import params_text

    return params_text(params)


def _legend(dot: graphviz.Digraph, diagram: Diagram) -> None:
    """What the colours, cluster borders and edge styles in this picture mean (only those it uses)."""
    families = diagram.families
    if not families:
        return
    rows = [_legend_head("families")]
    for f in families:
        fill = BLOCK_COLOUR if f == "block" else family_colour(f)
        rows.append(
            _legend_row(f"<td bgcolor='{fill}' width='22'> </td>", "user block (one box)" if f == "block" else f)
        )
    kinds = sorted({c.kind for c in diagram.root.walk()} - {"root"}, key=list(CLUSTER_MEANINGS).index)
    if kinds:
        rows.append(_legend_head("clusters"))
        for kind in kinds:
            style = CLUSTER_STYLES[kind]
            border = "dashed" if "dash" in style["style"] else "dotted" if "dot" in style["style"] else "solid"
            rows.append(
                _legend_row(
                    f"<td bgcolor='{style['bgcolor']}' width='22'><font color='{style['color']}'>{border}</font></td>",
                    CLUSTER_MEANINGS[kind],
                )
            )
    edges = sorted({e.kind for e in diagram.edges}, key=list(EDGE_MEANINGS).index)
    if edges:
        rows.append(_legend_head("edges"))
        for kind in edges:
            look = EDGE_STYLES[kind].get("style", "solid")
            colour = EDGE_STYLES[kind].get("color", "#555555")
            rows.append(_legend_row(f"<td width='22'><font color='{colour}'>{look}</font></td>", EDGE_MEANINGS[kind]))
    label = f"<<table border='0' cellborder='1' cellspacing='2' cellpadding='3'>{''.join(rows)}</table>>"
    with dot.subgraph(name="cluster_legend") as legend:
        legend.attr(label="", style="invis")
        legend.node("legend", label, shape="plaintext", style="", fontsize="9")


def _legend_head(title: str) -> str:
    return f"<tr><td colspan='2' border='0' align='left'><b>{title}</b></td></tr>"


def _legend_row(swatch: str, meaning: str) -> str:
    return f"<tr>{swatch}<td align='left'>{escape(meaning)}</td></tr>"


def render_dot(source: str, fmt: str) -> bytes:
    """DOT source drawn by Graphviz as `fmt` (svg, png or pdf)."""
    if not has_dot():
        raise GraphvizMissing(INSTALL_HINT)
    return graphviz.Source(source).pipe(format=fmt)
