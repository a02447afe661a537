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
        result[name] = value
    return result
