"""Regularisation family: blocks that act only in training (nn.Dropout; `drop_path` lives with images)."""

from __future__ import annotations

from torch import nn

from .registry import Arg, Construct, Family, block

REGULARISATION = Family(
    "regularisation",
    "#eeeeee",
    "Blocks that act only in training and are the identity in evaluation: dropout, stochastic depth.",
    paper="Srivastava et al. 2014; Huang et al. 2016",
)


@block(
    "dropout",
    family="regularisation",
    args=(Arg("p", "float", 0.5, "probability of zeroing an element in training", low=0.0, below=1.0),),
    module=lambda inputs, a: Construct(nn.Dropout, {"p": a.p}),
    accepts=("float", "graph"),
    decodes=True,  # the identity in evaluation
    example=("[5, 8]", "dropout(0.1)"),
)
def dropout(inputs, a):
    """Zeroes elements with probability p in training and rescales the rest by 1/(1-p); identity in eval.

    Shapes: any -> same.
    """
    return inputs[0]
