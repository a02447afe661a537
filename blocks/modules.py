"""The few nn.Modules cramnet defines itself (the rest are PyTorch's own).

Generated standalone files embed these classes' source, so they import only torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TiedLinear(nn.Module):
    """A linear map whose weight belongs to another module (weight tying); only the bias is its own."""

    def __init__(self, out_features: int, bias: bool = True, transposed: bool = False):
        super().__init__()
        self.transposed = transposed
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.linear(x, weight.t() if self.transposed else weight, self.bias)
