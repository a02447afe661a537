"""Life histories as Delphi-style inputs (Shmatko et al. 2025): each person's events in order of
age as `codes: tokens[visits]` and `ages: [visits, 1]`; the target at each event is the next event's
code (-100 after the last), and the waiting time to it is read from the ages by the next_event task.

The built-in set is synthetic: people are followed from birth in half-year steps; each event fires
at most once, with a yearly hazard that rises with age and is multiplied when events it depends on
have happened (smoking -> lung cancer and COPD; obesity -> diabetes -> kidney disease; hypertension
-> stroke and heart attack; serious diseases -> death, which ends the history). So which event comes
next, and when, depends on earlier events — what Delphi's transformer is for.
"""

from __future__ import annotations

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import split_tensors

IGNORE = -100
PAD = "<pad>"  # code id 0: after a history's last event

# code: (base yearly hazard at age 50, doubling time in years)
EVENTS = {
    "birth": (0.0, 1.0),
    "smoking": (0.02, 1e9),
    "obesity": (0.01, 30.0),
    "asthma": (0.004, 1e9),
    "depression": (0.006, 1e9),
    "hypertension": (0.02, 12.0),
    "type_2_diabetes": (0.004, 12.0),
    "chronic_kidney_disease": (0.002, 10.0),
    "copd": (0.001, 10.0),
    "lung_cancer": (0.0006, 9.0),
    "myocardial_infarction": (0.002, 10.0),
    "stroke": (0.0015, 9.0),
    "death": (0.004, 8.0),
}
# (cause, effect): multiplier of the effect's hazard once the cause has happened
DEPENDS = {
    ("smoking", "lung_cancer"): 12.0,
    ("smoking", "copd"): 8.0,
    ("smoking", "myocardial_infarction"): 2.0,
    ("obesity", "type_2_diabetes"): 6.0,
    ("obesity", "hypertension"): 2.5,
    ("type_2_diabetes", "chronic_kidney_disease"): 8.0,
    ("type_2_diabetes", "myocardial_infarction"): 2.5,
    ("hypertension", "stroke"): 5.0,
    ("hypertension", "myocardial_infarction"): 3.0,
    ("depression", "smoking"): 3.0,
    ("asthma", "copd"): 3.0,
    ("lung_cancer", "death"): 20.0,
    ("myocardial_infarction", "death"): 4.0,
    ("stroke", "death"): 4.0,
    ("chronic_kidney_disease", "death"): 3.0,
    ("copd", "death"): 2.5,
}
HISTORY_OPTIONS = {"count": 3000, "visits": 16}


def simulate(count: int, seed: int, step: float = 0.5, until: float = 100.0) -> list[list[tuple[float, int]]]:
    """Each person's (age, code id) events; ids count from 1 in EVENTS' order (0 is padding)."""
    g = torch.Generator().manual_seed(seed)
    names = list(EVENTS)
    base = torch.tensor([EVENTS[n][0] for n in names])
    doubling = torch.tensor([EVENTS[n][1] for n in names])
    boost = torch.ones(len(names), len(names))  # boost[cause, effect]
    for (cause, effect), factor in DEPENDS.items():
        boost[names.index(cause), names.index(effect)] = factor
    happened = torch.zeros(count, len(names), dtype=torch.bool)
    happened[:, 0] = True  # birth
    when = torch.full((count, len(names)), float("nan"))
    when[:, 0] = 0.0
    alive = torch.ones(count, dtype=torch.bool)
    death = names.index("death")
    age = 0.0
    while age < until and alive.any():
        hazard = base * torch.exp2((age - 50.0) / doubling)  # (codes,)
        factor = torch.exp(happened.float() @ boost.log())  # (people, codes): product of the boosts
        p = 1 - torch.exp(-hazard * factor * step)
        fires = (torch.rand(count, len(names), generator=g) < p) & ~happened & alive[:, None]
        at = age + torch.rand(count, len(names), generator=g) * step
        when[fires] = at[fires]
        happened |= fires
        alive &= ~fires[:, death]
        age += step
    rows = when.tolist()  # plain floats: indexing tensors one element at a time is slow
    return [sorted((age, c + 1) for c, age in enumerate(row) if age == age) for row in rows]  # NaN != NaN


def history_tensors(people: list[list[tuple[float, int]]], visits: int) -> tuple[torch.Tensor, ...]:
    """codes (N, visits) with 0 after the end, ages (N, visits, 1) with the last age repeated, and
    next-event targets (N, visits), -100 where there is no next event. Longer histories keep their
    first `visits` events."""
    n = len(people)
    codes = torch.zeros(n, visits, dtype=torch.long)
    ages = torch.zeros(n, visits, 1)
    targets = torch.full((n, visits), IGNORE, dtype=torch.long)
    for row, events in enumerate(people):
        events = events[:visits]
        k = len(events)
        codes[row, :k] = torch.tensor([c for _, c in events], dtype=torch.long)
        ages[row, :k, 0] = torch.tensor([a for a, _ in events])
        ages[row, k:, 0] = events[-1][0] if events else 0.0
        targets[row, : k - 1] = codes[row, 1:k]
    return codes, ages, targets


def event_inputs(types: dict[str, TensorType]) -> tuple[str, str] | None:
    """The names of the code input (tokens[visits]) and the age input ([visits, 1]), or None."""
    codes = [n for n, t in types.items() if t.kind == "tokens"]
    ages = [n for n, t in types.items() if t.kind == "float" and len(t.dims) == 2 and t.dims[-1] == 1]
    return (codes[0], ages[0]) if len(types) == 2 and len(codes) == 1 and len(ages) == 1 else None


def split_inputs(types: dict[str, TensorType], source: str) -> tuple[str, str]:
    """The names of the code input (tokens[visits]) and the age input ([visits, 1])."""
    found = event_inputs(types)
    if found is None:
        given = ", ".join(f"{n}: {t}" for n, t in types.items())
        raise TrainError(
            f"{source} gives event codes and ages; the model has {given}",
            "declare `input codes: tokens[visits]` and `input ages: [visits, 1]`",
        )
    return found


def life_histories(types: dict[str, TensorType], seed: int, val: float, test: float, options: dict, task: str):
    codes_name, ages_name = split_inputs(types, "data 'life_histories'")
    people = simulate(options["count"], seed)
    codes, ages, targets = history_tensors(people, options["visits"])
    events = sum(len(p) for p in people)
    return split_tensors(
        "life_histories",
        "next_event",
        {codes_name: codes, ages_name: ages},
        targets,
        seed,
        val,
        test,
        classes=len(EVENTS) + 1,
        info=f"{options['count']} synthetic life histories ({events:,} events, {len(EVENTS)} codes with "
        f"{len(DEPENDS)} dependencies)",
        labels=[PAD, *EVENTS],
    )
