"""Event tables: one row per event, with the person, the age (in years) and the event's code —
`person,age,code` in a CSV (or TSV, or Parquet) — read into Delphi-style inputs (see
life_histories.py). Column names are options; each person's events are ordered by age, and codes
get ids 1, 2, … in sorted order (0 pads), checked against the model's `embed` size."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import TrainError
from .dataset import Dataset, split_tensors
from .life_histories import IGNORE, PAD, history_tensors, split_inputs
from .options import resolve
from .record_ids import ids_by_split

EVENT_OPTIONS = {"person": "person", "age": "age", "code": "code", "visits": 16}


def is_event_table(path: Path) -> bool:
    """Whether a .csv's header names a person, an age and a code column (the default names)."""
    try:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):  # csv.Error: a field past the module's limit
        return False
    return {"person", "age", "code"} <= {h.strip().lower() for h in header}


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows of a table with their line numbers, every row as long as the header
    (blank lines skipped)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise TrainError(f"data file {path} does not exist")
    if suffix == ".parquet":
        try:
            import pandas

            frame = pandas.read_parquet(path)
        except ImportError:
            raise TrainError(
                f"{path}: reading Parquet needs pyarrow", "pip install pyarrow, or save the table as .csv"
            ) from None
        except (OSError, ValueError) as error:
            raise TrainError(f"{path}: not a readable Parquet file ({error})") from None
        rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
        return [str(c) for c in frame.columns], list(enumerate(rows, start=2))
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t" if suffix == ".tsv" else ","))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TrainError(f"cannot read {path}: {error}") from None
    if len(rows) < 2 or not any(rows[1:]):  # csv.reader gives a blank line as []
        raise TrainError(f"{path}: needs a header row and at least one event")
    header = [h.strip() for h in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):
            raise TrainError(
                f"{path}, line {number}: {len(row)} fields, the header has {len(header)} ({', '.join(header)})",
                "every event is one row: person, age, code (a ragged table cannot be read)",
            )
    return header, [(number, row) for number, row in enumerate(rows[1:], start=2) if any(v.strip() for v in row)]


def read_histories(path: Path, options: dict) -> tuple[list[str], list[list[tuple[float, str]]]]:
    """Person IDs in order of first appearance, and each person's (age, code) events by age."""
    header, rows = read_rows(path)
    columns = {}
    for role in ("person", "age", "code"):
        wanted = options[role]
        found = [i for i, h in enumerate(header) if h.strip().lower() == wanted.lower()]
        if not found:
            raise TrainError(
                f"{path}: no {role} column named '{wanted}' (columns: {', '.join(header)})",
                f"name it with --set data.options.{role}=COLUMN",
            )
        columns[role] = found[0]
    people: dict[str, list[tuple[float, str]]] = {}
    column = f"column {columns['age'] + 1} ('{header[columns['age']]}')"
    for number, row in rows:
        person, age, code = (row[columns[r]].strip() for r in ("person", "age", "code"))
        if not person or not code:
            raise TrainError(f"{path}, line {number}: the {'person' if not person else 'code'} is empty")
        try:
            years = float(age)
        except ValueError:
            raise TrainError(f"{path}, line {number}, {column}: age {age!r} is not a number (years)") from None
        if not math.isfinite(years):
            raise TrainError(f"{path}, line {number}, {column}: age {age!r} is not a finite number (years)")
        if years < 0:  # the waiting times between events are differences of ages: one before birth is a slip
            raise TrainError(
                f"{path}, line {number}, {column}: age {age!r} is negative",
                "an event's age is the person's age in years when it happened, 0 or more",
            )
        people.setdefault(person, []).append((years, code))
    return list(people), [sorted(events, key=lambda e: e[0]) for events in people.values()]


def events_dataset(path: Path, types, seed: int, val: float, test: float, options: dict, vocab) -> Dataset:
    options = resolve("an event table", options, EVENT_OPTIONS)
    codes_name, ages_name = split_inputs(types, str(path))
    persons, histories = read_histories(path, options)
    names = sorted({code for events in histories for _, code in events})
    if vocab is not None and len(names) + 1 > vocab:
        raise TrainError(
            f"{path}: {len(names)} event codes (and padding) need {len(names) + 1} token ids; the model's "
            f"embedding has {vocab}",
            f"make the codes' embed at least {len(names) + 1}",
        )
    index = {name: i + 1 for i, name in enumerate(names)}
    people = [[(age, index[code]) for age, code in events] for events in histories]
    codes, ages, targets = history_tensors(people, options["visits"])
    if (targets != IGNORE).sum() == 0:
        raise TrainError(f"{path}: nobody has two events, so there is no next event to learn")
    data = split_tensors(
        path.name,
        "next_event",
        {codes_name: codes, ages_name: ages},
        targets,
        seed,
        val,
        test,
        classes=len(names) + 1,
        labels=[PAD, *names],
        info=f"{path}: {len(persons)} people, {sum(len(h) for h in histories)} events, {len(names)} codes",
    )
    data.ids = ids_by_split(persons, seed, val, test)
    data.options = options
    return data
