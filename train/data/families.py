"""Alignments as Evoformer inputs (Jumper et al. 2021, Suppl. §1.2.9): the MSA one-hot over 20 amino
acids and the gap (21 channels, the rest of the declared width zero) with a last-but-one channel
marking the query row, and pair features that one-hot the clipped relative position j - i. The
target is the matrix of Cβ distances (NaN where unknown), which the contact_map task bins.

The built-in `families` set is synthetic: each family gets a folded chain (a random walk of 3.8 Å
steps that turns back on itself), so residues far apart in sequence touch in space; its MSA is
sampled from per-column residue profiles, and for a set of touching pairs (i, j) the residue at j
complements the residue at i in 90% of the sequences — salt bridges (K–E, R–D), hydrophobic packing
(L–I, V–F, A–M, W–Y), polar pairs (S–T, N–Q), C–C, G–P, H–H — the coevolution that lets a model read
contacts from the alignment. Sequences also get a few gaps.
"""

from __future__ import annotations

import math

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import split_tensors

MSA_LETTERS = "ACDEFGHIKLMNPQRSTVWY-"  # 21 one-hot channels; anything else reads as a gap
COMPLEMENT = dict(pair for a, b in ("KE", "RD", "LI", "VF", "AM", "WY", "ST", "NQ", "GP", "CC", "HH")
                  for pair in ((a, b), (b, a)))  # fmt: skip
PAIRING = torch.tensor([MSA_LETTERS.index(COMPLEMENT[c]) for c in MSA_LETTERS[:20]])
FAMILY_OPTIONS = {"count": 400, "depth": 32, "residues": 24}


def msa_features(ids: torch.Tensor, width: int) -> torch.Tensor:
    """(N, S, R) letter ids -> (N, S, R, width): one-hot letters, then a query-row flag."""
    if width < len(MSA_LETTERS) + 1:
        raise TrainError(
            f"the MSA input needs at least {len(MSA_LETTERS) + 1} channels per residue (21 letters and a "
            f"query flag); it declares {width}"
        )
    features = torch.zeros(*ids.shape, width)
    features[..., : len(MSA_LETTERS)] = torch.nn.functional.one_hot(ids, len(MSA_LETTERS)).float()
    features[:, 0, :, len(MSA_LETTERS)] = 1.0
    return features


def pair_features(count: int, residues: int, width: int) -> torch.Tensor:
    """(count, R, R, width): one-hot of j - i clipped to [-width//2, width - width//2 - 1]."""
    offsets = torch.arange(residues)[None, :] - torch.arange(residues)[:, None]
    low = -(width // 2)
    bins = offsets.clamp(low, low + width - 1) - low
    return torch.nn.functional.one_hot(bins, width).float().expand(count, -1, -1, -1).contiguous()


def split_inputs(types: dict[str, TensorType], source: str) -> tuple[str, str, int, int]:
    """Names and channel widths of the MSA input [S, R, c_m] and the pair input [R, R, c_z]."""
    msa = [n for n, t in types.items() if t.kind == "float" and len(t.dims) == 3 and t.dims[0] != t.dims[1]]
    pair = [n for n, t in types.items() if t.kind == "float" and len(t.dims) == 3 and t.dims[0] == t.dims[1]]
    widths = [types[n].dims[-1] for n in msa + pair]
    if len(types) != 2 or len(msa) != 1 or len(pair) != 1 or not all(isinstance(w, int) for w in widths):
        given = ", ".join(f"{n}: {t}" for n, t in types.items())
        raise TrainError(
            f"{source} gives an MSA and pair features; the model has {given}",
            "declare `input msa: [sequences, residues, 32]` and `input pair: [residues, residues, 16]`",
        )
    return msa[0], pair[0], types[msa[0]].dims[-1], types[pair[0]].dims[-1]


def fold(residues: int, g: torch.Generator) -> torch.Tensor:
    """(R, 3) positions of a compact chain: 3.8 Å steps, each turned toward the chain's centre."""
    points = [torch.zeros(3)]
    direction = torch.nn.functional.normalize(torch.randn(3, generator=g), dim=0)
    for _ in range(residues - 1):
        centre = torch.stack(points).mean(0)
        pull = torch.nn.functional.normalize(centre - points[-1] + 1e-6, dim=0)
        turn = torch.randn(3, generator=g)
        direction = torch.nn.functional.normalize(direction + 0.9 * turn + 0.3 * pull, dim=0)
        points.append(points[-1] + 3.8 * direction)
    return torch.stack(points)


def sample_family(depth: int, residues: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, R) letter ids with coevolving contacts, and the (R, R) distances of its fold."""
    xyz = fold(residues, g)
    distances = torch.cdist(xyz, xyz)
    profile = torch.softmax(torch.randn(residues, 20, generator=g), dim=-1)  # variable columns: covariation shows
    msa = torch.multinomial(profile, depth, replacement=True, generator=g).T  # (S, R)
    free = set(range(residues))
    order = torch.randperm(residues * residues, generator=g).tolist()
    for flat in order:  # couple touching pairs, each residue in at most one pair
        i, j = divmod(flat, residues)
        if j - i >= 4 and i in free and j in free and distances[i, j] < 8.0:
            follows = torch.rand(depth, generator=g) < 0.9
            msa[follows, j] = PAIRING[msa[follows, i]]
            free -= {i, j}
    gaps = torch.rand(depth, residues, generator=g) < 0.03
    gaps[0] = False  # the query has no gaps
    msa[gaps] = len(MSA_LETTERS) - 1
    return msa, distances


def families(types: dict[str, TensorType], seed: int, val: float, test: float, options: dict, task: str):
    msa_name, pair_name, c_m, c_z = split_inputs(types, "data 'families'")
    count, depth, residues = options["count"], options["depth"], options["residues"]
    g = torch.Generator().manual_seed(seed)
    sampled = [sample_family(depth, residues, g) for _ in range(count)]
    ids = torch.stack([m for m, _ in sampled])
    distances = torch.stack([d for _, d in sampled])
    contacts = ((distances < 8.0) & (torch.arange(residues)[None, :] - torch.arange(residues)[:, None] >= 6)).sum()
    return split_tensors(
        "families",
        "contact_map",
        {msa_name: msa_features(ids, c_m), pair_name: pair_features(count, residues, c_z)},
        distances,
        seed,
        val,
        test,
        info=f"{count} synthetic families: {depth} sequences x {residues} residues, coevolving contacts "
        f"({math.floor(int(contacts) / count)} long-range contacts per family)",
    )
