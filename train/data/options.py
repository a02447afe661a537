"""Each data set's options, checked like the config: unknown names suggest the nearest one."""

from __future__ import annotations

from collections.abc import Mapping

from ...dsl.errors import did_you_mean
from ..errors import TrainError


def resolve(data: str, given: Mapping, declared: Mapping) -> dict:
    """`declared` defaults overridden by `given`, each value of the default's type."""
    result = dict(declared)
    for name, value in given.items():
        if name not in declared:
            hint = did_you_mean(name, declared) or (
                f"its options: {', '.join(declared)}" if declared else f"'{data}' takes no options"
            )
            raise TrainError(f"data.options: '{data}' has no option '{name}'", hint)
        want = type(declared[name])
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if declared[name] is not None and (not isinstance(value, want) or isinstance(value, bool) != (want is bool)):
            raise TrainError(f"data.options.{name} must be {want.__name__}, not {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            raise TrainError(f"data.options.{name} must be above 0, not {value!r}")
        low, high = LIMITS.get(name, (None, MAX_OPTION))
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value > high or (low is not None and value < low):
                raise TrainError(f"data.options.{name} must be from {low or 1:,} to {high:,}, not {value!r}")
        result[name] = value
    if result.get("count", 1) * result.get("length", 1) > MAX_VALUES:
        raise TrainError(
            f"data.options: count × length = {result['count'] * result['length']:,} is more than "
            f"{MAX_VALUES:,} values to generate",
            "lower data.options.count or data.options.length",
        )
    if result.get("min_nodes", 0) > result.get("max_nodes", float("inf")):
        raise TrainError(
            f"data.options: min_nodes ({result['min_nodes']}) is above max_nodes ({result['max_nodes']})"
        )
    return result


# Generated data sets are made in memory before training: bound what a config can ask for.
MAX_OPTION = 1_000_000
MAX_VALUES = 100_000_000
LIMITS = {
    "count": (10, 1_000_000),  # fewer cannot be split into training, validation and test sets
    "length": (1, 100_000),
    "min_nodes": (2, 10_000),
    "max_nodes": (2, 10_000),
}
