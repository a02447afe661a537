"""Short texts for diagrams and trees: a block call with its key arguments, parameter counts."""

from __future__ import annotations

from typing import Any

from ..blocks.dims import Dim


def call_text(block: str, spec: Any, args: Any) -> str:
    """`conv2d(16, 3, pad=1)`: required and key arguments by position, then those that differ from
    their default, by name. Tensor arguments are left out (they are edges); a tied weight shows its name."""
    if spec is None or args is None:
        return block
    shown = []
    for arg in spec.args:
        value = getattr(args, arg.name, None)
        if arg.kind == "tensor":  # a tensor input (`memory = enc`): drawn as an edge, named in the graph
            continue
        if arg.required or (arg.key and all(a.required or a.key for a in spec.args[: spec.args.index(arg)])):
            shown.append(value_text(value))  # positional while every argument before it is shown too
        elif not _same(value, arg.default):
            shown.append(f"{arg.name}={value_text(value)}")
    return f"{block}({', '.join(shown)})" if shown else block


def _same(value: Any, default: Any) -> bool:
    try:
        return value == default or (isinstance(value, (list, tuple)) and list(value) == [default] * len(value))
    except Exception:  # an argument type without a sane ==
        return False


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    for attribute in ("name", "node"):  # a bound tensor (`tie = tok`) or an enum word
        if hasattr(value, attribute) and isinstance(getattr(value, attribute), str):
            return getattr(value, attribute)
    return str(value)


def params_text(params: Dim) -> str:
    """`61,706 params` below a million, `11.7M params` above."""
    if not isinstance(params, int):
        return f"{params} params"
    if params < 1_000_000:
        return f"{params:,} params"
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M")):
        if params >= size:
            return f"{params / size:.3g}{suffix} params"
    return f"{params} params"
