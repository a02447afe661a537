"""Multiple sequence alignments for Evoformer-style models: an `.a3m` or aligned FASTA file is one
family (the first record is the query), a folder of them is a data set. Read with Biopython;
features as in families.py. A3M's insertions (lower-case letters and '.') are dropped, so every row
has the query's columns; rows of unequal length are an error. Letters outside the 20 amino acids
(X, B, Z, U, O) get an all-zero one-hot.

Families are cut to one shape, so that they batch: the first `depth` sequences and the first
`residues` columns (0: the smallest there is). The target, Cβ distances (Cα for glycine), comes
from a structure file beside the alignment with the same name (`.pdb` or `.cif`, the first chain of
the first model, read with Biopython's parsers), its residues matched in order to the query's
non-gap columns; a family without one cannot be trained on."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import TrainError
from .dataset import Dataset, split_tensors
from .families import MSA_LETTERS, msa_features, pair_features, split_inputs
from .fasta import parse_fasta
from .options import resolve
from .record_ids import ids_by_split

ALIGNMENT_OPTIONS = {"depth": 0, "residues": 0}
SUFFIXES = (".a3m", ".fasta", ".fa", ".afa", ".fas")
OTHER = len(MSA_LETTERS)  # the id of a letter outside the alphabet: a zero one-hot


def read_alignment(path: Path) -> tuple[list[str], torch.Tensor]:
    """Record IDs and (S, R) letter ids of one alignment."""
    records = [(record, seq) for record, _, seq in parse_fasta(path, "alignment")]
    if not records:
        raise TrainError(f"{path}: no sequences", "each sequence starts with a '>ID' line; the query comes first")
    rows = [("".join(c for c in seq if not (c.islower() or c == ".")), record) for record, seq in records]
    width = len(rows[0][0])
    for seq, record in rows:
        if len(seq) != width:
            raise TrainError(
                f"{path}: alignment rows of unequal length: '{record}' has {len(seq)} columns, the query "
                f"'{rows[0][1]}' has {width}",
                "every row of an alignment spans the query's columns (in A3M, insertions are lower case)",
            )
    index = {c: i for i, c in enumerate(MSA_LETTERS)}
    ids = torch.tensor([[index.get(c.upper(), OTHER) for c in seq] for seq, _ in rows], dtype=torch.long)
    return [record for _, record in rows], ids


def read_distances(structure: Path, query: torch.Tensor) -> torch.Tensor:
    """(R, R) Cβ distances for the query's columns; NaN at the query's gaps."""
    from Bio.PDB import MMCIFParser, PDBParser
    from Bio.PDB.PDBExceptions import PDBConstructionException

    parser = MMCIFParser(QUIET=True) if structure.suffix.lower() == ".cif" else PDBParser(QUIET=True)
    try:
        model = next(iter(parser.get_structure(structure.stem, str(structure))))
        chain = next(iter(model))
    except (StopIteration, ValueError, KeyError, PDBConstructionException, OSError) as error:
        raise TrainError(
            f"{structure}: no chain could be read ({str(error) or 'no ATOM records'})",
            f"{structure.name} holds the structure of the query (the first record) of alignment {structure.stem}",
        ) from None
    points = []
    for residue in chain:
        if residue.id[0] != " ":  # waters and ligands
            continue
        atom = residue["CB"] if "CB" in residue else residue["CA"] if "CA" in residue else None
        if atom is None:
            raise TrainError(f"{structure}: residue {residue.id[1]} has neither a Cβ nor a Cα atom")
        points.append(torch.tensor(atom.coord, dtype=torch.float32))
    filled = query != MSA_LETTERS.index("-")
    if len(points) != int(filled.sum()):
        raise TrainError(
            f"{structure}: {len(points)} residues in its first chain, but the query has {int(filled.sum())}",
            "the structure's chain must be the query's sequence, residue for residue",
        )
    xyz = torch.full((len(query), 3), float("nan"))
    xyz[filled] = torch.stack(points)
    return torch.cdist(xyz, xyz)


def alignment_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise TrainError(f"{path}: no alignments ({', '.join(SUFFIXES)}) in the folder")
        return files
    if not path.is_file():
        raise TrainError(f"data file {path} does not exist")
    return [path]


def structure_of(alignment: Path) -> Path | None:
    return next((p for p in (alignment.with_suffix(".pdb"), alignment.with_suffix(".cif")) if p.is_file()), None)


def alignment_dataset(path: Path, types, seed: int, val: float, test: float, options: dict) -> Dataset:
    options = resolve("an alignment", options, ALIGNMENT_OPTIONS)
    msa_name, pair_name, c_m, c_z = split_inputs(types, str(path))
    files = alignment_files(path)
    if len(files) < 3:
        raise TrainError(
            f"{path}: {len(files)} alignment(s); training needs at least 3 families (train, validation, test)",
            "give a folder of .a3m files, each with its .pdb beside it",
        )
    read = [read_alignment(f) for f in files]
    depth = options["depth"] or min(len(ids) for _, ids in read)
    residues = options["residues"] or min(ids.shape[1] for _, ids in read)
    msas, targets = [], []
    for file, (_, ids) in zip(files, read):
        if len(ids) < depth or ids.shape[1] < residues:
            raise TrainError(f"{file}: {len(ids)} x {ids.shape[1]}, smaller than depth {depth} x residues {residues}")
        structure = structure_of(file)
        if structure is None:
            raise TrainError(f"{file}: no structure beside it for the contact target", f"add {file.stem}.pdb")
        full = read_distances(structure, ids[0])
        msas.append(ids[:depth, :residues])
        targets.append(full[:residues, :residues])
    ids = torch.stack(msas)
    features = torch.nn.functional.one_hot(ids, OTHER + 1)[..., :OTHER].float()  # zeros for other letters
    msa = msa_features(ids.clamp(max=OTHER - 1), c_m)
    msa[..., :OTHER] = features
    data = split_tensors(
        path.name,
        "contact_map",
        {msa_name: msa, pair_name: pair_features(len(files), residues, c_z)},
        torch.stack(targets),
        seed,
        val,
        test,
        info=f"{path}: {len(files)} families, {depth} sequences x {residues} residues",
    )
    data.ids = ids_by_split([f.stem for f in files], seed, val, test)
    data.options = options
    return data
