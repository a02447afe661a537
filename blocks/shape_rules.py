"""Small shape helpers shared by the block families."""

from __future__ import annotations

from .dims import Dim, is_known
from .registry import ShapeError
from .tensor_type import TensorType


def known_size(dim: Dim, what: str) -> int:
    """A size that decides a weight's shape must be a number, not a run-time symbol."""
    if not is_known(dim):
        raise ShapeError(
            f"{what} must be a known size to size the weights, but it is '{dim}'",
            "give that dimension a number in the input type, or a `let` constant",
        )
    return dim


def require_rank(value: TensorType, ranks: tuple[int, ...], expected: str) -> None:
    if value.rank not in ranks:
        raise ShapeError(f"expects {expected}, got {value}")


def axis(index: int, rank: int, what: str = "dim") -> int:
    """A per-example axis (the batch excluded; negative counts from the end) as a non-negative index."""
    if not -rank <= index < rank:
        raise ShapeError(f"{what} {index} is out of range for a value of rank {rank} (valid: {-rank} … {rank - 1})")
    return index % rank


def per_position(inputs: list[TensorType], a) -> bool:
    """A `decodes` rule (registry.BlockSpec): the call works along its `dim` axis — the last where it has
    none — of a value of rank 2 or more, never along the first, a sequence's positions."""
    rank, dim = inputs[0].rank, getattr(a, "dim", None)
    return rank >= 2 and axis(-1 if dim is None else dim, rank) > 0


def torch_axis(index: int, rank: int) -> int:
    """The same axis in the batched tensor: non-negative axes shift by one for the batch."""
    return axis(index, rank) + 1


def value_axis(index: int, value: TensorType) -> int:
    """The axis in the run-time tensor of `value`: graph and edge values have no batch axis (the
    batch's nodes are stacked on the first), other values a leading one."""
    k = axis(index, value.rank)
    return k if value.kind in ("graph", "edges") else k + 1


def positions(value: TensorType, keep: int = 1) -> Dim:
    """How many times a per-position op runs: the product of all but the last `keep` dims."""
    count: Dim = 1
    for d in value.dims[: value.rank - keep]:
        count = count * d
    return count


def numel(value: TensorType) -> Dim:
    return positions(value, keep=0)
