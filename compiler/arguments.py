"""Checking a call's arguments against what the block declares, and converting their values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..blocks.registry import Arg, BlockSpec, all_blocks
from ..dsl import ast
from ..dsl.errors import Span, SpecError, did_you_mean
from .binding_sites import unbound_hint
from .evaluate import EvalError, Scope, TensorRef, Word, evaluate, literal_hint, unknown_name


def unknown_argument_hint(block: str, name: str, names: list[str]) -> str | None:
    """`conv2d(…, tie = x)`: `tie` belongs to dense, and `share` is what reuses a conv's weights —
    more use than the nearest spelling ('stride')."""
    listed = f"{block}'s arguments are: {', '.join(names)}" if names else f"{block} takes no arguments"
    if name == "tie":
        return (
            "only dense takes `tie` (an output layer reusing an embedding's weight); "
            f"`share = NAME` reuses the weights of another call of {block}"
        )
    owners = sorted(b for b, spec in all_blocks().items() if spec.arg(name) is not None)
    if owners:
        more = f" and {len(owners) - 3} more" if len(owners) > 3 else ""
        return f"'{name}' is an argument of {', '.join(owners[:3])}{more}; {listed}"
    return did_you_mean(name, names) or listed


def match_arguments(
    block: str, names: list[str], required: set[str], args: ast.Args | None, call_span: Span, errors: list[SpecError]
) -> dict[str, ast.Expr] | None:
    """Pair each argument expression with a parameter name; None after recording a mistake."""
    matched: dict[str, ast.Expr] = {}
    ok = True
    if args is None:
        args = ast.Args(span=call_span)
    if len(args.positional) > len(names):
        extra = args.positional[len(names)]
        takes = f"takes {len(names)} argument{'s' if len(names) != 1 else ''}" if names else "takes no arguments"
        errors.append(
            SpecError(
                code="E302",
                message=f"{block} {takes}, got {len(args.positional)}",
                span=extra.span,
                hint=f"its arguments are: {', '.join(names)}" if names else None,
            )
        )
        ok = False
    for name, expr in zip(names, args.positional):
        matched[name] = expr
    for kwarg in args.keyword:
        if kwarg.name not in names:
            hint = unknown_argument_hint(block, kwarg.name, names)
            errors.append(
                SpecError(code="E301", message=f"{block} has no argument '{kwarg.name}'", span=kwarg.span, hint=hint)
            )
            ok = False
        elif kwarg.name in matched:
            errors.append(
                SpecError(code="E306", message=f"{block}: argument '{kwarg.name}' is given twice", span=kwarg.span)
            )
            ok = False
        else:
            matched[kwarg.name] = kwarg.value
    missing = [n for n in names if n in required and n not in matched]
    if missing:
        errors.append(
            SpecError(
                code="E303",
                message=f"{block} needs argument{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)}",
                span=call_span,
                hint=f"write {block}({', '.join(names[: len(required)])}, …)",
            )
        )
        ok = False
    return matched if ok else None


def bind_block_args(
    spec: BlockSpec, args: ast.Args | None, scope: Scope, call_span: Span, errors: list[SpecError]
) -> SimpleNamespace | None:
    """Evaluate and check a primitive block's arguments; merges take their values positionally."""
    declared = spec.args
    if spec.merge:
        positional = args.positional if args else ()
        args = ast.Args(span=args.span, positional=(), keyword=args.keyword) if args else None
    matched = match_arguments(
        spec.name, [a.name for a in declared], {a.name for a in declared if a.required}, args, call_span, errors
    )
    if matched is None:
        return None
    values: dict[str, Any] = {}
    ok = True
    for arg in declared:
        if arg.name not in matched:
            values[arg.name] = arg.default
            continue
        expr = matched[arg.name]
        try:
            values[arg.name] = convert(spec.name, arg, evaluate(expr, scope), expr.span, scope)
        except EvalError as failure:
            errors.append(failure.error)
            ok = False
    if spec.merge:
        tensors = []
        for expr in positional:
            try:
                value = evaluate(expr, scope)
            except EvalError as failure:
                errors.append(failure.error)
                ok = False
                continue
            if not isinstance(value, TensorRef):
                errors.append(_not_a_tensor(spec.name, "each value to merge", value, expr.span, scope))
                ok = False
            tensors.append(value)
        if ok and len(tensors) < 2:
            errors.append(
                SpecError(
                    code="E303",
                    message=f"{spec.name} merges two or more values, got {len(tensors)}",
                    span=call_span,
                    hint=f"write {spec.name}(a, b)",
                )
            )
            ok = False
        values["_merged"] = tensors
    return SimpleNamespace(**values) if ok else None


def convert(block: str, arg: Arg, value: Any, span: Span, scope: Scope) -> Any:
    """Check `value` against `arg`'s kind, bounds and choices; returns the value to store."""

    def fail(expected: str) -> EvalError:
        message = f"{block}: '{arg.name}' expects {expected}, got {show(value)}"
        if "integer" in expected and isinstance(value, float) and not isinstance(value, bool):
            return EvalError(SpecError(code="E304", message=message, span=span, hint=_WHOLE_NUMBER_HINT))
        return _argument_error("E304", message, arg, span)

    if isinstance(value, Word) and value.name == "none" and "none" not in arg.choices:
        if arg.default is None:
            return None
        raise EvalError(
            SpecError(code="E304", message=f"{block}: '{arg.name}' cannot be none", span=span, hint=arg.doc or None)
        )
    if arg.kind in ("tensor", "ref"):
        if not isinstance(value, TensorRef):
            raise EvalError(_not_a_tensor(block, f"'{arg.name}'", value, span, scope))
        return value
    if isinstance(value, Word) and value.name in arg.choices:
        return value.name
    if isinstance(value, str) and value in arg.choices:
        return value
    if isinstance(value, Word):
        if arg.choices:
            raise EvalError(
                SpecError(
                    code="E304",
                    message=f"{block}: '{arg.name}' cannot be '{value.name}'",
                    span=span,
                    hint=did_you_mean(value.name, arg.choices) or f"choose one of: {', '.join(arg.choices)}",
                )
            )
        flags = {"true", "false"} if arg.kind == "bool" else set()  # `causal = ture`
        raise EvalError(unknown_name(value.name, value.span, scope.known_names() | flags, scope.module))
    if isinstance(value, TensorRef):
        raise fail(_KIND_WORDS[arg.kind])
    if arg.kind == "int":
        if _as_int(value) is None:
            raise fail("an integer")
        value = _as_int(value)
    elif arg.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        value = float(value)
    elif arg.kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif arg.kind == "str":
        if not isinstance(value, str):
            raise fail("a string")
    elif arg.kind == "path":  # relative to the spec file that wrote it, like `use`
        if not isinstance(value, str) or not value:
            raise fail("a file path in quotes")
        base = Path(span.file).parent if not span.file.startswith("<") else Path.cwd()
        value = str((base / value).resolve())
    elif arg.kind == "enum":
        raise fail("one of: " + ", ".join(arg.choices))
    elif arg.kind == "ints":
        items = value if isinstance(value, list) else [value]
        converted = [_as_int(v) for v in items]
        if not items or any(v is None for v in converted):
            raise fail("an integer or a list of integers" + (f" (or {', '.join(arg.choices)})" if arg.choices else ""))
        value = converted if isinstance(value, list) else converted[0]
    _check_bounds(block, arg, value, span)
    return value


_KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "enum": "a word",
    "ints": "an integer or a list of integers",
    "path": "a file path in quotes",
    "any": "a value",
}


# The largest magnitudes an argument may have: what the kernels take (a C int, a float32) without
# overflowing. A larger value passed `check` and then broke `compile` or `train` inside PyTorch.
INT_LIMIT = 2**31 - 1
FLOAT_LIMIT = 3.4e38


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _check_bounds(block: str, arg: Arg, value: Any, span: Span) -> None:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        limit = f"{INT_LIMIT:,}" if isinstance(item, int) else f"{FLOAT_LIMIT:g}"
        if abs(item) > (INT_LIMIT if isinstance(item, int) else FLOAT_LIMIT):
            shown = f"{item:,}" if isinstance(item, int) else f"{item:g}"
            raise EvalError(
                SpecError(
                    code="E305",
                    message=f"{block}: '{arg.name}' is too large: {shown} (its size is at most {limit})",
                    span=span,
                    hint=arg.doc or None,
                )
            )
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if arg.low is not None and item < arg.low:
            bound = f"at least {_number(arg.low)}"
        elif arg.below is not None and item >= arg.below:
            bound = f"below {_number(arg.below)}"
        else:
            continue
        raise _argument_error("E305", f"{block}: '{arg.name}' must be {bound}, got {_number(item)}", arg, span)


_WHOLE_NUMBER_HINT = "it takes a whole number: `//` divides to one (`256 // 3` is 85), `/` to a fraction"


def _argument_error(code: str, message: str, arg: Arg, span: Span) -> EvalError:
    """A wrong argument value, hinted with what the argument is."""
    return EvalError(SpecError(code=code, message=message, span=span, hint=arg.doc or None))


def _number(value: float) -> int | float:
    """2 rather than 2.0 in a message: a float argument's value is stored as a float."""
    return int(value) if float(value).is_integer() else value


def _not_a_tensor(block: str, what: str, value: Any, span: Span, scope: Scope) -> SpecError:
    if isinstance(value, Word):  # reported where the word was written: a block's caller may have passed it
        known = value.values.names() - {"in"} if value.values is not None else scope.known_values()
        return SpecError(
            code="E205",
            message=f"{block}: {what} must be a bound value, but '{value.name}' is not bound",
            span=value.span,
            hint=literal_hint(value.name)
            or unbound_hint(scope.module, value.name, value.span)
            or did_you_mean(value.name, known)
            or "bind a value first with `NAME = …` or `… as NAME`",
        )
    return SpecError(code="E304", message=f"{block}: {what} must be a bound value, got {show(value)}", span=span)


def show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Word):
        return value.name
    if isinstance(value, TensorRef):
        return f"the tensor '{value.name}'"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def split_keyword(call: ast.Call, name: str) -> tuple[ast.Call, ast.Kwarg | None]:
    """The call without its `name = …` argument (a language form, not the block's: `share`,
    `freeze`), and that argument."""
    if call.args is None:
        return call, None
    found = [k for k in call.args.keyword if k.name == name]
    if not found:
        return call, None
    keyword = tuple(k for k in call.args.keyword if k.name != name)
    return replace(call, args=replace(call.args, keyword=keyword)), found[-1]
