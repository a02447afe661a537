"""What a person at the terminal sees: rich progress bars for epochs and batches (throughput, time
left), one line per epoch, and a final table. Quiet runs (and ranks other than 0) see nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


class Reporter:
    def __init__(self, console: Console | None, epochs: int, steps: int, first_epoch: int):
        self.console = console
        self.progress = None
        if console is None:
            return
        self.progress = Progress(
            TextColumn("{task.description:>8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.epochs = self.progress.add_task("epochs", total=epochs, completed=first_epoch - 1, speed="")
        self.batches = self.progress.add_task("batches", total=steps, speed="")
        self.seen, self.started = 0, time.perf_counter()

    def __enter__(self) -> Reporter:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start_epoch(self) -> None:
        if self.progress is not None:
            self.progress.reset(self.batches)
            self.seen, self.started = 0, time.perf_counter()

    def batch(self, examples: int) -> None:
        if self.progress is None:
            return
        self.seen += examples
        rate = self.seen / max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.batches, advance=1, speed=f"{rate:,.0f} ex/s")

    def end_epoch(self, row: dict, main: str) -> None:
        if self.progress is None:
            return
        self.progress.advance(self.epochs)
        parts = [f"epoch {int(row['epoch']):>3}", f"train loss {row['train_loss']:.4f}"]
        parts += [f"val loss {row['val_loss']:.4f}"]
        if f"val_{main}" in row and main != "loss":
            parts.append(f"val {main} {row[f'val_{main}']:.4f}")
        parts.append(f"{row['seconds']:.1f}s")
        self.console.print("  ".join(parts))


def work_bar(console: Console, description: str, total: int) -> tuple[Progress, Callable[[int], None]]:
    """A transient bar for a long computation outside training (a probe's fits): the Progress to
    enter and the function that advances it."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(description, total=total)
    return progress, lambda steps: progress.advance(task, steps)


def metrics_table(final: dict, title: str = "final metrics") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in final.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table
