"""The one error type of training: a user mistake (config, data file, device) told as a message."""

from __future__ import annotations


class TrainError(Exception):
    """A mistake in a run's config, data or environment: a message and, where one helps, a hint.
    The command line prints it without a traceback; library callers can catch it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint
