"""Grid graphs: an image or a sequence read as a graph of neighbouring positions, so a graph branch
can sit beside a convolutional or recurrent one (`image -> grid_graph -> gcn(16) -> pool(mean)`)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import Arg, Construct, ShapeError, block
from .tensor_type import TensorType


class GridGraph(nn.Module):
    """An image (B, C, H, W) as a graph of its pixels — features the C channels, edges to the 4 (or,
    with `diagonal`, 8) neighbours — or a sequence (B, seq, d) as a path graph of its positions;
    edges run both ways. Returns node features (B·nodes, F) and the batch's graph."""

    class Graph:
        """A batch of graphs: `edge_index` (2, E), `batch` (N,) and `num_graphs`."""

        def __init__(self, edge_index, batch, num_graphs):
            self.edge_index, self.batch, self.num_graphs = edge_index, batch, num_graphs

    def __init__(self, diagonal=False):
        super().__init__()
        self.diagonal = diagonal

    def forward(self, x):
        count = x.shape[0]
        if x.dim() == 4:  # pixels are the nodes, channels their features
            height, width = x.shape[2], x.shape[3]
            x = x.flatten(2).transpose(1, 2)  # (B, H·W, C)
        else:  # positions are the nodes
            height, width = 1, x.shape[1]
        grid = torch.arange(height * width, device=x.device).view(height, width)
        pairs = [(grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :])]
        if self.diagonal:
            pairs += [(grid[:-1, :-1], grid[1:, 1:]), (grid[:-1, 1:], grid[1:, :-1])]
        first = torch.cat([a.reshape(-1) for a, _ in pairs])
        second = torch.cat([b.reshape(-1) for _, b in pairs])
        one = torch.stack([torch.cat([first, second]), torch.cat([second, first])])  # (2, E) of one example
        offsets = torch.arange(count, device=x.device) * (height * width)
        edge_index = (one[:, None, :] + offsets[None, :, None]).reshape(2, -1)
        batch = torch.arange(count, device=x.device).repeat_interleave(height * width)
        return x.reshape(count * height * width, -1), self.Graph(edge_index, batch, count)


@block(
    "grid_graph",
    family="graph",
    args=(Arg("diagonal", "bool", False, "join diagonal pixel neighbours too (8 neighbours, not 4)"),),
    module=lambda inputs, a: Construct(GridGraph, {"diagonal": a.diagonal}),
    makes_graph=True,
    positions="drop",
    example=("[3, 4, 5]", "grid_graph(diagonal = true)"),
)
def grid_graph(inputs, a):
    """Reads an image as a graph of its pixels (edges to the 4 neighbours, 8 with `diagonal`) or a
    sequence as a path graph of its positions (edges to the previous and next), so graph layers can
    sit beside conv or recurrent branches (the grid-graph view of images, as in Defferrard et al.
    2016's MNIST experiment). Padding positions of a padded sequence become nodes like the rest.

    Shapes: [C, H, W] -> graph[H·W, C]; [seq, d] -> graph[seq, d].
    """
    x = inputs[0]
    if x.rank == 3:
        return TensorType((x.dims[1] * x.dims[2], x.dims[0]), "graph")
    if x.rank == 2:
        if a.diagonal:
            raise ShapeError("diagonal neighbours exist in an image, not in a sequence", "drop `diagonal = true`")
        return TensorType(x.dims, "graph")
    raise ShapeError(f"expects an image [C, H, W] or a sequence [seq, d], got {x}")
