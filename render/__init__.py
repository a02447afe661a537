"""Seeing inside a model: Graphviz and Mermaid diagrams and the terminal tree of its blocks.

from cramnet.compiler import check_spec
from cramnet.render import render_file, diagram_svg
render_file(check_spec("specs/cram.cram"), "cram.svg")

Importing this package makes a checked model display as its diagram in a notebook.
"""

from ..compiler.api import set_svg_display
from .dot import INSTALL_HINT, GraphvizMissing, has_dot, render_dot, to_dot
from .files import FORMATS, diagram_svg, render_file
from .mermaid import to_mermaid
from .structure import Diagram, Options, build_diagram
from .tree import summary_tree

set_svg_display(diagram_svg)

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "Diagram",
    "GraphvizMissing",
    "Options",
    "build_diagram",
    "diagram_svg",
    "has_dot",
    "render_dot",
    "render_file",
    "summary_tree",
    "to_dot",
    "to_mermaid",
]
