"""Colours for diagrams, shared by Graphviz and Mermaid output: a block's fill is its family's
declared colour (`Family.colour` in blocks/), so no colour is listed here per block or family."""

from __future__ import annotations

from ..blocks.registry import family_of

PLUGIN_COLOUR = "#d8c3a5"  # a plugin family that declares no `Family`
INPUT_COLOUR = "#ffffff"
BLOCK_COLOUR = "#b9c4cf"  # a user-block instance drawn as one box (`--depth`), with a double border

CLUSTER_STYLES: dict[str, dict[str, str]] = {  # border colour and style per kind of cluster
    "block": {"color": "#7a7a7a", "style": "rounded", "bgcolor": "#fcfcfc"},
    "repeat": {"color": "#3a6ea5", "style": "dashed,rounded", "bgcolor": "#f5f9ff"},
    "residual": {"color": "#5b8c5a", "style": "rounded", "bgcolor": "#f7fbf5"},
    "parallel": {"color": "#b07d2b", "style": "rounded", "bgcolor": "#fffaf1"},
    "branch": {"color": "#d6c29c", "style": "dotted,rounded", "bgcolor": "#fffdf8"},
    "bodies": {"color": "#b04a4a", "style": "rounded", "bgcolor": "#fff6f6"},
    "body": {"color": "#d49a9a", "style": "dotted,rounded", "bgcolor": "#fffafa"},
}
CLUSTER_MEANINGS: dict[str, str] = {  # the legend's words for each kind of cluster
    "block": "user block (its name · block)",
    "repeat": "repeat × N (first copy shown unless --expand)",
    "residual": "residual: x + body(x)",
    "parallel": "parallel branches, merged",
    "branch": "one parallel branch",
    "bodies": "a block with bodies (a mixture of experts): entry (router), bodies, exit (mix)",
    "body": "one body (expert) (× copies)",
}
EDGE_STYLES: dict[str, dict[str, str]] = {  # Graphviz attributes per kind of edge
    "data": {},
    "tie": {"style": "dashed", "color": "#999999"},
    "share": {"style": "dashed", "color": "#7a5195"},
    "route": {"style": "dotted"},
}
EDGE_MEANINGS: dict[str, str] = {
    "data": "data: the tensor's shape",
    "tie": "tied: reuses an embedding's weight (transposed)",
    "share": "shared: the same module called again",
    "route": "routing: the entry (router) feeds a body (expert)",
}


def family_colour(family: str) -> str:
    declared = family_of(family)
    return declared.colour if declared is not None else PLUGIN_COLOUR
