"""The consoles the commands print to, and how a command's outcome is told: a spec's errors with
their excerpts, any other user mistake as `error:` and a hint (exit 1), a bug as `internal error`
(exit 70). Command-line mistakes that typer finds itself are told in the same look by usage.py."""

from __future__ import annotations

import os
from collections.abc import Callable

import typer
from rich.console import Console
from rich.text import Text

from ..dsl.errors import MAX_ERRORS_SHOWN, MAX_NOTES_SHOWN, SpecError, SpecErrors, clip, excerpt, more_errors, printable
from ..dsl.highlight import highlight_excerpt
from ..errors import CramnetError

# markup off: file names and messages print as they are (`--out 'exp[lr=0.1]'` printed "exp", and
# `runs/b[/]/x` crashed the printer); styles come from rich Text objects instead
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

MISTAKE = 1  # a spec, config, data, run or flag that cramnet refused
INTERNAL = 70  # EX_SOFTWARE: a bug in cramnet
INTERRUPTED = 130


def print_spec_errors(failure: SpecErrors) -> None:
    for error in failure.errors[:MAX_ERRORS_SHOWN]:
        _print_error(error, failure.sources)
        err.print()
    hidden = len(failure.errors) - MAX_ERRORS_SHOWN
    if hidden > 0:
        err.print(Text(more_errors(hidden), style="bold"))
        err.print()
    count = len(failure.errors)
    err.print(Text(f"{count} error{'s' if count != 1 else ''}", style="bold red"))


def _print_error(error: SpecError, sources: dict[str, str]) -> None:
    head = Text()
    if error.span:
        head.append(printable(f"{error.span}: "), style="bold")
    head.append(f"error[{error.code}]", style="bold red")
    head.append(f": {clip(error.message)}", style="bold")
    err.print(head)
    blocks = [(error.span, None)] if error.span else []
    blocks += [(span, note) for span, note in error.notes[:MAX_NOTES_SHOWN]]
    for span, note in blocks:
        if note:
            err.print(Text(clip(f"  note: {note} ({span})"), style="cyan"))
        for line in excerpt(span, sources):
            err.print(highlight_excerpt(line))
    if len(error.notes) > MAX_NOTES_SHOWN:
        err.print(Text(f"  … and {len(error.notes) - MAX_NOTES_SHOWN} more notes", style="cyan"))
    if error.hint:
        err.print(Text(clip(f"  hint: {error.hint}"), style="green"))


def print_mistake(message: str, hint: str | None = None) -> None:
    """`error: message` and `  hint: hint`: every mistake that is not located in a spec looks so."""
    err.print(Text(f"error: {printable(message)}", style="bold red"))
    if hint:
        err.print(Text(f"  hint: {printable(hint)}", style="green"))


def run_command(action: Callable[[], object]) -> None:
    """Run a command body. User mistakes (`SpecErrors` and every `CramnetError`) print as messages,
    exit 1, never a traceback; any other exception is a bug in cramnet: exit 70 (EX_SOFTWARE)."""
    try:
        action()
    except SpecErrors as failure:
        print_spec_errors(failure)
        raise typer.Exit(MISTAKE) from None
    except CramnetError as failure:
        print_mistake(str(failure), failure.hint)
        raise typer.Exit(MISTAKE) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(INTERRUPTED) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as failure:
        if os.environ.get("CRAMNET_DEBUG"):
            raise
        err.print(Text(printable(f"internal error: {type(failure).__name__}: {failure}"), style="bold red"))
        err.print(
            "  this is a bug in cramnet, not in your spec; please report it "
            "(rerun with CRAMNET_DEBUG=1 for the traceback to include)"
        )
        raise typer.Exit(INTERNAL) from None
