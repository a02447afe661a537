"""FASTA files (read with Biopython) for sequence models: one protein, DNA or RNA sequence per record
as `tokens[length]` over the alphabets of alphabets.py, cropped or padded to one length.

Labels, for classification, come from the header — `data.options.label` is a `key` of a `key=value`
field (`>P12345 ec=3 …`) or a regular expression with one group (`EC=(\\d)`) — or from a side CSV
(`data.options.labels=labels.csv`, its first column the record ID, its second the label). Padding
uses a token after the alphabet where the model's `embed` has room, else the unknown letter (X, N),
and the padding mask goes to the model as `<input>_mask`, so attention and pooling skip padding
(True = a real letter). Record IDs are kept for `predict`.

With a published tokenizer (`data.options.tokenizer`, or the tokenizer.json of published weights
being fine-tuned: ProtBERT's for EnzBERT) the sequences are read as it reads them — its [CLS] and
[SEP], residues apart where it reads one per word — cropped as it crops, padded with its [PAD]."""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path

import torch

from ..errors import TrainError
from .alphabets import (
    ALPHABETS,
    Alphabet,
    crop_or_pad,
    guess_alphabet,
    letters_of,
    protein_model_warning,
    published_rows,
)
from .dataset import Dataset, split_tensors
from .options import resolve
from .record_ids import class_ids, ids_by_split

FASTA_OPTIONS = {"label": "", "labels": "", "length": 0, "alphabet": "auto", "unknown": "error", "tokenizer": ""}
LONGEST = 1024  # length 0 (auto) crops here: the positions of most sequence models end about there


HEADER = "each record starts with a '>ID description' line, its sequence on the lines below"


def read_records(path: Path) -> list[tuple[str, str, str]]:
    """(id, description, sequence) of each record: at least one, each with residues and its own ID."""
    records = parse_fasta(path, "FASTA file")
    if not records:
        raise TrainError(f"{path}: no FASTA records", HEADER)
    first = {}
    for number, (record, _, sequence) in enumerate(records, 1):
        if not sequence.strip("*-."):  # what encoding drops: stop codons and gaps
            raise TrainError(
                f"{path}: record '{record}' (record {number}) has no residues",
                "remove the record, or give its sequence on the lines below its header",
            )
        if record in first:
            raise TrainError(
                f"{path}: record ID '{record}' is used by records {first[record]} and {number}",
                "give each record its own ID (the header's first word): labels and predictions are matched by it",
            )
        first[record] = number
    return records


def parse_fasta(path: Path, what: str) -> list[tuple[str, str, str]]:
    """(id, description, sequence) of each record of a FASTA-formatted file (`what` names it in
    messages); text before the first header is told by its line, not in Biopython's words. Read
    line by line: the whole text, its lines and their copies held at once took ten times a file's size."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    if not path.is_file():
        raise TrainError(f"data file {path} does not exist")
    try:
        with path.open() as handle:
            number, line = 0, ""
            while not line.strip():  # to the first line that is not blank
                line = handle.readline()
                number += 1
                if not line:
                    break
            if line.strip() and not line.startswith(">"):
                shown = line.strip()
                raise TrainError(
                    f"{path}, line {number}: {shown[:60] + ('…' if len(shown) > 60 else '')!r} comes before the "
                    "first record's '>' header",
                    HEADER,
                )
            records = SimpleFastaParser(itertools.chain([line] if line else [], handle))
            return [(title.split(None, 1)[0] if title.strip() else "", title, sequence) for title, sequence in records]
    except (UnicodeDecodeError, OSError, ValueError) as error:
        raise TrainError(f"{path}: not a readable {what} ({str(error).splitlines()[0]})") from None


def header_labels(path: Path, records, label: str) -> list[str]:
    """Each record's label from its header: a `key=value` field, or a regex's first group."""
    is_key = re.fullmatch(r"[A-Za-z_][\w.-]*", label) is not None
    try:
        pattern = re.compile(rf"(?:^|[\s|;,]){re.escape(label)}=([^\s|;,]+)" if is_key else label)
    except re.error as error:
        raise TrainError(f"data.options.label {label!r} is not a regular expression ({error})") from None
    if not is_key and pattern.groups != 1:
        raise TrainError(f"data.options.label {label!r} must have one group: the label", "e.g. 'EC=(\\d)'")
    labels = []
    for record, description, _ in records:
        found = pattern.search(description)
        if found is None:
            what = f"field {label}=…" if is_key else f"match for {label!r}"
            hint = f"header: >{description[:80]}"
            other = re.search(rf"(?:^|[\s|;,])({re.escape(label)})=", description, re.IGNORECASE) if is_key else None
            if other:  # EC=3.1.1.1 asked for as ec
                hint += f" (keys are case-sensitive: --set data.options.label={other.group(1)})"
            raise TrainError(f"{path}: record '{record}' has no label: its header has no {what}", hint)
        labels.append(found.group(1))
    return labels


def side_labels(path: Path, records, table: Path) -> list[str]:
    """Each record's label from a CSV of (record ID, label) rows."""
    if not table.is_file():
        raise TrainError(f"data.options.labels: {table} does not exist")
    try:
        with table.open(newline="") as handle:
            rows = [r for r in csv.reader(handle) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TrainError(f"cannot read {table}: {error}") from None
    if rows and len(rows[0]) >= 2 and rows[0][0].strip().lower() in ("id", "record", "record_id", "name"):
        rows = rows[1:]  # a header
    if any(len(r) < 2 for r in rows):
        raise TrainError(f"{table}: every row needs a record ID and a label")
    known = {r[0].strip(): r[1].strip() for r in rows}
    missing = [record for record, _, _ in records if record not in known]
    if missing:
        raise TrainError(
            f"{table}: no label for {len(missing)} record(s) of {path}, first '{missing[0]}'",
            "its first column is the record ID (the header's first word)",
        )
    return [known[record] for record, _, _ in records]


def encode_records(path: Path, records, options: dict, vocab: int | None, tokenizer=None, longest=None):
    """(N, length) token ids, the mask of real tokens, and what read them: an Alphabet, or the
    published tokenizer given (a trained run's) or named by data.options.tokenizer. Length 0 (auto)
    is the longest record's, at most `longest` (the model's) and LONGEST."""
    longest = min(longest, LONGEST) if longest else LONGEST
    if tokenizer is None and options["tokenizer"]:
        from .text import open_tokenizer

        tokenizer = open_tokenizer(options["tokenizer"])
    if tokenizer is not None:
        tokens, mask = _published_ids(path, records, tokenizer, options, vocab, longest)
        return tokens, mask, tokenizer
    name = options["alphabet"]
    if name != "auto" and name not in ALPHABETS:
        raise TrainError(f"data.options.alphabet must be auto, {', '.join(ALPHABETS)}; not {name!r}")
    if options["unknown"] not in ("error", "map"):
        raise TrainError(f"data.options.unknown must be error or map, not {options['unknown']!r}")
    alphabet = ALPHABETS[name] if name != "auto" else guess_alphabet([s for _, _, s in records])
    if vocab is not None and vocab < alphabet.size:
        raise TrainError(
            f"{path}: the {alphabet.name} alphabet has {alphabet.size} letters ({alphabet.letters}); the model's "
            f"embedding has {vocab}",
            f"make it embed({alphabet.size}, …) or more",
        )
    keep = options["length"] or longest  # crop_or_pad cuts every record there
    ids = [alphabet.encode(r, s, options["unknown"] == "map", str(path), keep) for r, _, s in records]
    length = options["length"] or min(max(len(i) for i in ids), longest)
    pad = alphabet.size if vocab is None or vocab > alphabet.size else alphabet.letters.index(alphabet.unknown)
    tokens, mask = crop_or_pad(ids, length, pad)
    return tokens, mask, alphabet


def fasta_dataset(
    path: Path, types, task: str, seed: int, val: float, test: float, options: dict, vocab, longest=None
) -> Dataset:
    options = resolve("a FASTA file", options, FASTA_OPTIONS)
    if len(types) != 1 or next(iter(types.values())).kind != "tokens":
        given = ", ".join(f"{n}: {t}" for n, t in types.items())
        raise TrainError(
            f"{path}: a FASTA file feeds one token input; the model has {given}",
            "declare `input protein: tokens[length]`",
        )
    (name,) = types
    records = read_records(path)
    tokens, mask, reader = encode_records(path, records, options, vocab, longest=longest)
    alphabet = reader if isinstance(reader, Alphabet) else None
    tokenizer = None if alphabet else reader
    guessed = protein_model_warning(alphabet, vocab) if alphabet and options["alphabet"] == "auto" else None
    warnings = [f"{path}: {guessed}"] if guessed else []
    ids = [r for r, _, _ in records]
    what = f"{alphabet.name} sequences" if alphabet else "sequences read with the published tokenizer"
    info = f"{path}: {len(records)} {what}, length {tokens.shape[1]}"
    known = {"alphabet": alphabet.option if alphabet else None, "tokenizer": tokenizer}
    if task == "language_model":
        target = torch.where(mask[:, 1:], tokens[:, 1:], -100)
        inputs = {name: tokens[:, :-1], f"{name}_mask": mask[:, :-1]}
        data = split_tensors(path.name, task, inputs, target, seed, val, test, info=info, **known)
        data.classes, data.ids = alphabet.size if alphabet else tokenizer.vocab, ids_by_split(ids, seed, val, test)
        data.warnings = warnings
        return data
    if options["labels"]:
        names = side_labels(path, records, Path(options["labels"]))
    elif options["label"]:
        names = header_labels(path, records, options["label"])
    else:
        raise TrainError(
            f"{path}: no labels, and the model classifies",
            "take them from the header (--set data.options.label=KEY for KEY=value fields, or a regex with "
            "one group) or from a CSV of ID,label rows (--set data.options.labels=labels.csv)",
        )
    classes, index = class_ids(names)
    y = torch.tensor([index[n] for n in names])
    stratify = bool(torch.bincount(y).min() >= 3)  # each class in each split, where there are enough
    data = split_tensors(
        path.name,
        "classification",
        {name: tokens, f"{name}_mask": mask},
        y,
        seed,
        val,
        test,
        stratify=stratify,
        classes=len(classes),
        labels=classes,
        info=f"{info}, {len(classes)} classes",
        **known,
    )
    data.ids = ids_by_split(ids, seed, val, test, y if stratify else None)
    data.options = options
    data.warnings = warnings
    return data


def _published_ids(path: Path, records, tokenizer, options: dict, vocab: int | None, longest: int):
    """(N, length) ids of each sequence as the published tokenizer reads it, and the real tokens' mask."""
    tokenizer.fit(vocab, str(path))
    sequences = [letters_of(s) for _, _, s in records]
    unread = _unread(tokenizer.inner, sequences)
    # a tokenizer of whole words (ProtBERT's) knows residues, not proteins: it reads them one per word
    apart = any(unread)
    if apart:
        unread = _unread(tokenizer.inner, [" ".join(s) for s in sequences])
    if options["unknown"] != "map":
        for (record, _, _), residue in zip(records, unread):
            if residue:
                raise TrainError(
                    f"{path}: record '{record}' has {residue!r}, a residue the published tokenizer does not know "
                    f"(it reads it as {tokenizer.inner.model.unk_token})",
                    "fix the record, or let such residues be read as unknown with --set data.options.unknown=map",
                )
    texts = [" ".join(s) if apart else s for s in sequences]
    return published_rows(tokenizer, texts, options["length"], longest)


def _unread(inner, texts: list[str]) -> list[str | None]:
    """Per text, the first piece the tokenizer reads as its unknown token, else None. An unknown token
    that stands for itself (the letter X of an amino-acid alphabet whose unknown is X) is read."""
    token = getattr(inner.model, "unk_token", None)
    unknown = inner.token_to_id(token or "")
    if unknown is None:
        return [None] * len(texts)
    return [
        next((text[a:b] for i, (a, b) in zip(e.ids, e.offsets) if i == unknown and text[a:b] != token), None)
        for text, e in zip(texts, inner.encode_batch(texts))
    ]
