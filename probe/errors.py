"""The one error type of probing: a user mistake (an unknown node, a value that is no tensor)."""

from __future__ import annotations


class ProbeError(Exception):
    """A probe that cannot be made, told as a message and, where one helps, a hint. The command
    line prints it without a traceback; library callers can catch it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint
