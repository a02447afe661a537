"""`cramnet check` on a search space: every combination checked (a seeded sample past a cap), the
values that break it named and located, and the parameter range of the architectures it holds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..compiler.api import check_spec
from ..compiler.space import Space, Value
from ..dsl.errors import SpecErrors
from ..errors import CramnetError

CHECK_LIMIT = 256  # combinations `cramnet check` builds before it samples instead


@dataclass
class SpaceCheck:
    space: Space
    total: int  # combinations of the checked values (ranges at their bounds)
    passed: list[tuple[dict[str, Value], int]] = field(default_factory=list)  # (point, parameters)
    failed: list[tuple[dict[str, Value], SpecErrors]] = field(default_factory=list)
    model: str = ""

    @property
    def sampled(self) -> bool:
        return len(self.passed) + len(self.failed) < self.total

    def param_range(self) -> tuple[tuple[int, dict], tuple[int, dict]] | None:
        if not self.passed:
            return None
        low = min(self.passed, key=lambda p: p[1])
        high = max(self.passed, key=lambda p: p[1])
        return (low[1], low[0]), (high[1], high[0])

    def culprits(self) -> list[tuple[str, Value, dict[str, Value], SpecErrors]]:
        """Values that fail in every checked combination holding them while another value of the same
        axis passes: (axis, value, a failing point, its errors)."""
        found = []
        for axis in self.space.axes:
            for value in axis.check_values():
                ok = any(point[axis.name] == value for point, _ in self.passed)
                bad = [(p, e) for p, e in self.failed if p[axis.name] == value]
                others_ok = any(point[axis.name] != value for point, _ in self.passed)
                if bad and not ok and others_ok:
                    found.append((axis.name, value, *bad[0]))
        return found


def check_space(
    space: Space, model: str | None = None, plugins: list[str] = (), limit: int = CHECK_LIMIT, **limits
) -> SpaceCheck:
    """Check the points of a space (every one, or `limit` sampled); `limits` are check_spec's
    `max_nodes` and `max_params`, as for any spec."""
    points, total = space.check_points(limit)
    report = SpaceCheck(space, total)
    for point in points:
        try:
            checked = check_spec(space.text, model, list(plugins), path=space.path, choices=point, **limits)
        except SpecErrors as failure:
            report.failed.append((point, failure))
            continue
        report.model = checked.name
        report.passed.append((point, checked.summary().params))
    return report


def show_point(point: dict[str, Value], space: Space) -> str:
    axes = {axis.name: axis for axis in space.axes}
    return ", ".join(f"{name} = {axes[name].text_of(value)}" for name, value in point.items())


def describe_size(space: Space) -> str:
    size = space.size
    if math.isinf(size):
        choices = math.prod(a.size for a in space.axes if not math.isinf(a.size))
        return f"{choices:,} combinations of choices × continuous ranges"
    return f"{int(size):,} architecture{'s' if size != 1 else ''}"


def run_check_space(space: Space, model, plugins, console, print_errors, limit: int = CHECK_LIMIT, **limits) -> None:
    """The body of `cramnet check` for a spec with choices: prints the verdict and, when some
    combination fails, the errors of the values that break it; then raises `SpaceFailed`."""
    from rich.text import Text

    spec = space.path
    report = check_space(space, model, plugins, limit, **limits)
    checked = len(report.passed) + len(report.failed)
    how = f"{checked:,} of {report.total:,} combinations, sampled" if report.sampled else f"{checked:,} combinations"
    if report.sampled:
        console.print(
            f"{report.total:,} combinations are more than {limit:,}: checking a sample of {limit:,}", style="yellow"
        )
    axes = "; ".join(f"{axis.name}: {axis.describe()}" for axis in space.axes)
    bounds = " (ranges checked at their bounds)" if any(a.kind != "choice" for a in space.axes) else ""
    console.print(f"{spec}: {describe_size(space)} — {axes}{bounds}", style="dim")
    span = report.param_range()
    if span is not None:
        (low, low_point), (high, high_point) = span
        console.print(
            Text.assemble(
                ("ok" if not report.failed else "partly", "bold green" if not report.failed else "bold yellow"),
                f": {len(report.passed):,} of {how} check — model '{report.model}', {low:,} to {high:,} parameters",
            )
        )
        console.print(f"  smallest: {show_point(low_point, space)}", style="dim")
        console.print(f"  largest:  {show_point(high_point, space)}", style="dim")
    if not report.failed:
        return
    culprits = report.culprits()
    for axis, value, point, errors in culprits:
        text_of = next(a for a in space.axes if a.name == axis).text_of(value)
        console.print(
            Text.assemble((f"{axis} = {text_of}", "bold red"), " fails in every combination that holds it, e.g. with")
        )
        console.print(f"  {show_point(point, space)}:")
        print_errors(_noted(errors, next(a for a in space.axes if a.name == axis), text_of))
    explained = {(axis, value) for axis, value, _, _ in culprits}
    rest = [(p, e) for p, e in report.failed if not any(p[a] == v for a, v in explained)]
    for point, errors in rest[:3]:
        console.print(Text.assemble(("fails", "bold red"), f" with {show_point(point, space)}:"))
        print_errors(errors)
    if len(rest) > 3:
        console.print(f"… and {len(rest) - 3} more failing combinations")
    raise SpaceFailed(f"{len(report.failed):,} of {how} fail")


def _noted(failure: SpecErrors, axis, text: str) -> SpecErrors:
    """The errors with a note pointing at the chosen value, where it stands in the fixed spec."""
    span = axis.span
    chosen = replace(span, end_line=span.line, end_col=span.col + len(text)) if "\n" not in text else span
    note = (chosen, f"{axis.name} = {text} is chosen here")
    errors = [
        e if any(n[0] == chosen for n in e.notes) else replace(e, notes=e.notes + (note,)) for e in failure.errors
    ]
    return SpecErrors(errors, failure.sources)


class SpaceFailed(CramnetError):
    """Some combinations of a space fail (their errors already printed)."""


def spec_space(spec: Path) -> Space | None:
    """The search space of a spec file, or None when it has no `choice`/`range` lets (or cannot be read:
    the ordinary check reports that)."""
    from ..compiler.loader import read_source
    from ..compiler.space_reader import read_space

    text = read_source(Path(spec), [])
    if text is None:
        return None
    space = read_space(text, str(spec))
    return space if space.axes else None
