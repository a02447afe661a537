"""Colours for diagrams: one fill per block family, shared by Graphviz and Mermaid output."""

from __future__ import annotations

FAMILY_COLOURS: dict[str, str] = {
    "dense": "#dbe9f6",
    "conv": "#d6eadf",
    "normalisation": "#eeeeee",
    "activations": "#fff3c4",
    "attention": "#f9d5e5",
    "recurrent": "#e2d4f0",
    "state space": "#cdeff0",
    "graph": "#ffe0c2",
    "tokens": "#ebe5d3",
    "merges": "#ffffff",
    "KAN": "#d9f2c4",
    "mixture of experts": "#f6c6c6",
    "latent": "#c9d7f8",
    "axes": "#e4ecd9",
    "images": "#d3e4e8",
    "learned": "#f3dcc8",
}
OTHER_COLOUR = "#e6e6e6"  # plugin families
INPUT_COLOUR = "#ffffff"
BLOCK_COLOUR = "#f4f4f4"  # a user-block instance drawn as one box (`--depth`)

CLUSTER_STYLES: dict[str, dict[str, str]] = {  # border colour and style per kind of cluster
    "block": {"color": "#7a7a7a", "style": "rounded", "bgcolor": "#fcfcfc"},
    "repeat": {"color": "#3a6ea5", "style": "dashed,rounded", "bgcolor": "#f5f9ff"},
    "residual": {"color": "#5b8c5a", "style": "rounded", "bgcolor": "#f7fbf5"},
    "parallel": {"color": "#b07d2b", "style": "rounded", "bgcolor": "#fffaf1"},
    "branch": {"color": "#d6c29c", "style": "dotted,rounded", "bgcolor": "#fffdf8"},
    "moe": {"color": "#b04a4a", "style": "rounded", "bgcolor": "#fff6f6"},
    "expert": {"color": "#d49a9a", "style": "dotted,rounded", "bgcolor": "#fffafa"},
}


def family_colour(family: str) -> str:
    return FAMILY_COLOURS.get(family, OTHER_COLOUR)
