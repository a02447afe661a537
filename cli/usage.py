"""The command line before a command runs: help with a real metavar for every argument and option
(`SPEC`, `--dim NAME=SIZE`, `--batch N`), and the mistakes typer finds while reading the command
line (an unknown command or option, a missing argument, a value of the wrong kind or outside its
choices) told like cramnet's own: `error: …` and a hint, exit 2 (USAGE). Every other mistake is
cramnet's to find and exits 1 (messages.py)."""

from __future__ import annotations

import importlib
import typing

import typer
from typer.core import TyperCommand, TyperGroup

from ..dsl.errors import did_you_mean
from .messages import print_mistake

USAGE = 2  # the command line itself could not be read: nothing ran

# typer 0.16 and later carry their own copy of click: its exceptions live beside BadParameter
_click = importlib.import_module(typer.BadParameter.__module__)
_NO_ARGS_IS_HELP = getattr(_click, "NoArgsIsHelpError", ())  # click 8.2+: `cramnet` alone prints the help


class FlagMistake(typer.BadParameter):
    """A value an option cannot take, said in cramnet's words (raised by the options' own checks)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def choice(option: str, values: tuple[str, ...]):
    """A check for an option whose value is one of `values`: one message for it wherever it is taken."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            hint = did_you_mean(value, values) or f"for example {option} {values[0]}"
            raise FlagMistake(f"{option} {value!r} is not one of {', '.join(values)}", hint)
        return value

    return check


class Command(TyperCommand):
    """A command whose help names every value by its metavar and whose usage mistakes read like
    cramnet's errors."""

    def make_context(self, info_name, args, parent=None, **extra):
        given = list(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _click.UsageError as error:
            if error.ctx is None:  # the parser's own mistakes come without one: usage and options need it
                error.ctx = self.context_class(self, info_name=info_name, parent=parent)
            _tell(error, given)

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_argument_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx, formatter) -> None:
        params = [p for p in self.get_params(ctx) if not getattr(p, "hidden", False)]
        arguments = [(_argument_name(p), p.help or "") for p in params if p.param_type_name == "argument"]
        options = [_option_record(p) for p in params if p.param_type_name == "option"]
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


class Group(TyperGroup):
    """`cramnet` itself: an unknown command or top-level option is told like any usage mistake."""

    def make_context(self, info_name, args, parent=None, **extra):
        given = list(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _click.UsageError as error:
            if isinstance(error, _NO_ARGS_IS_HELP):
                raise
            _tell(error, given)

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.commands:
            hint = did_you_mean(name, self.commands) or f"`{ctx.command_path} -h` lists the commands"
            print_mistake(f"{ctx.command_path} has no command {name!r}", hint)
            raise typer.Exit(USAGE)
        return super().resolve_command(ctx, args)


def _tell(error, given: list[str]):
    """Print a usage mistake as `error:` and a hint, and exit 2."""
    message, hint = describe(error, given)
    print_mistake(message, hint)
    raise typer.Exit(USAGE) from None


def describe(error, given: list[str]) -> tuple[str, str | None]:
    """(message, hint) for a usage mistake typer found in the arguments `given` to a command."""
    ctx = error.ctx
    command = ctx.command_path if ctx is not None else "cramnet"
    more = f"`{command} -h` says more"
    param = getattr(error, "param", None)
    if isinstance(error, FlagMistake):
        return str(error.message), error.hint
    if isinstance(error, _click.NoSuchOption):
        options = [o for p in (ctx.command.get_params(ctx) if ctx else []) for o in (*p.opts, *p.secondary_opts)]
        return f"{command} has no option {error.option_name}", did_you_mean(error.option_name, options) or (
            f"`{command} -h` lists its options"
        )
    if isinstance(error, _click.MissingParameter) and param is not None:
        if param.param_type_name == "argument":
            return f"{command} needs {_argument_name(param)}", f"usage: {_usage(ctx)} ({more})"
        return f"{command} needs {param.opts[-1]} {param.metavar or 'VALUE'}", _takes(param)
    if isinstance(error, _click.BadParameter) and param is not None:
        name = param.opts[-1] if param.param_type_name == "option" else _argument_name(param)
        value = _value_given(param, given)
        shown = f"{name} {value!r}" if value is not None else name
        if _out_of_range(param, value):  # in our words: typer's wording changes between versions
            return f"{shown}: must be {_range(param)}", _takes(param)
        if _not_a_number(param, value):
            return f"{shown} is not {_NUMBERS[_number_kind(param)]}", _takes(param)
        return f"{shown}: {_sentence(error.message)}", _takes(param)
    if isinstance(error, _click.BadOptionUsage) and ctx is not None:
        option = next((p for p in ctx.command.get_params(ctx) if error.option_name in p.opts), None)
        if option is not None:
            return f"{error.option_name} needs a value", _takes(option)
    return _sentence(error.message), f"usage: {_usage(ctx)} ({more})" if ctx is not None else None


def _takes(param) -> str:
    """`--batch takes N, at least 1: Batch of the test pass.`: what an option takes and what it is for."""
    name = param.opts[-1] if param.param_type_name == "option" else _argument_name(param)
    takes = f"{name} takes {param.metavar}" if param.param_type_name == "option" and param.metavar else name
    bounds = _range(param)
    return takes + (f", {bounds}" if bounds else "") + (f": {param.help}" if param.help else "")


def _sentence(text: str) -> str:
    """A library's message as part of ours: no capital, no full stop."""
    text = str(text).strip().rstrip(".")
    return text[:1].lower() + text[1:]


def _usage(ctx) -> str:
    return ctx.get_usage().removeprefix("Usage: ").strip()


def _value_given(param, given: list[str]) -> str | None:
    """What the user wrote for an option (`--batch 0`, `--batch=0`): the last one, as the option takes."""
    found = None
    for i, word in enumerate(given):
        for opt in getattr(param, "opts", ()):
            if word == opt and i + 1 < len(given):
                found = given[i + 1]
            elif word.startswith(opt + "=") and opt.startswith("--"):
                found = word[len(opt) + 1 :]
    return found


def _out_of_range(param, value: str | None) -> bool:
    low, high = _bounds(param)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return (low is not None and number < low) or (high is not None and number > high)


_NUMBERS = {"integer": "a whole number", "float": "a number"}


def _number_kind(param) -> str:
    """`integer` or `float` for a numeric option (`int | None` too), else ''."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        kinds = {descriptor.annotation, *typing.get_args(descriptor.annotation)}
        return "integer" if int in kinds else "float" if float in kinds else ""
    kind = getattr(getattr(param, "type", None), "name", "").split(" ")[0]  # older typer: click's types, ranges too
    return kind if kind in _NUMBERS else ""


def _not_a_number(param, value: str | None) -> bool:
    kind = _number_kind(param)
    if not kind or value is None:
        return False
    try:
        int(value) if kind == "integer" else float(value)
    except ValueError:
        return True
    return False


def _argument_name(param) -> str:
    name = param.metavar or param.name.upper()
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


def _option_record(param) -> tuple[str, str]:
    names = ", ".join(sorted(param.opts, key=len))  # `-o, --output`
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if not param.is_flag:
        names += f" {param.metavar or 'VALUE'}"
    notes = []
    default = param.default
    if not param.is_flag and default is not None and default != () and not callable(default):
        notes.append(f"default: {default}")
    if _range(param):
        notes.append(_range(param))
    if param.required:
        notes.append("required")
    return names, (param.help or "") + (f"  [{'; '.join(notes)}]" if notes else "")


def _range(param) -> str:
    """`at least 1`, `0 to 4,294,967,295`: an option's bounds in words (typer's `x>=1` reads like a formula)."""
    low, high = _bounds(param)
    if low is not None and high is not None:
        return f"from {low:,} to {high:,}"
    if low is not None:
        return f"at least {low:,}"
    if high is not None:
        return f"at most {high:,}"
    return ""


def _bounds(param) -> tuple:
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is None and high is None:  # older typer: the bounds are on a click range type
        kind = getattr(param, "type", None)
        low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    return low, high
