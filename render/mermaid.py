"""A diagram as a Mermaid flowchart: renders on code-hosting sites with no Graphviz at all."""

from __future__ import annotations

import re

from .labels import params_text
from .palette import BLOCK_COLOUR, CLUSTER_STYLES, INPUT_COLOUR, family_colour
from .structure import Cluster, Diagram, cluster_caption


def to_mermaid(diagram: Diagram) -> str:
    ids = {box: f"n{i}" for i, box in enumerate(diagram.boxes, start=1)}
    lines = [f"flowchart {diagram.options.rankdir}"]
    counter = [0]

    def fill(cluster: Cluster, indent: str) -> None:
        for box_id in cluster.boxes:
            box = diagram.boxes[box_id]
            text = box.text if box.family != "output" else f"output {box.shape}"
            if box.family == "block" and box.params:  # a user block drawn as one box: say how big it is
                text += f" · {params_text(box.params)}"
            shape = ('(["', '"])') if box.family in ("input", "output") else ('["', '"]')
            lines.append(f"{indent}{ids[box_id]}{shape[0]}<b>{_quote(box.title)}</b><br/>{_quote(text)}{shape[1]}")
        for child in cluster.children:
            counter[0] += 1
            name = f"c{counter[0]}"
            lines.append(f'{indent}subgraph {name} ["{_quote(cluster_caption(child))}"]')
            fill(child, indent + "    ")
            lines.append(f"{indent}end")
            style = CLUSTER_STYLES.get(child.kind, CLUSTER_STYLES["block"])
            dash = ",stroke-dasharray:4 3" if "dash" in style["style"] or "dot" in style["style"] else ""
            styles.append(f"style {name} fill:{style['bgcolor']},stroke:{style['color']}{dash}")

    styles: list[str] = []
    fill(diagram.root, "    ")
    for edge in diagram.edges:
        arrow = "-.->" if edge.kind in ("tie", "share", "route") else "-->"
        label = f'|"{_quote(edge.label)}"|' if edge.label else ""
        lines.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    for family in sorted({b.family for b in diagram.boxes.values()}):
        colour = {"input": INPUT_COLOUR, "output": INPUT_COLOUR, "block": BLOCK_COLOUR}.get(family) or family_colour(
            family
        )
        lines.append(f"    classDef {_class(family)} fill:{colour},stroke:#555555")
        members = ",".join(ids[b] for b, box in diagram.boxes.items() if box.family == family)
        lines.append(f"    class {members} {_class(family)}")
    lines += [f"    {s}" for s in styles]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """Mermaid labels are quoted; quotes and angle brackets become entities."""
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _class(family: str) -> str:
    return "f_" + re.sub(r"\W", "_", family)
