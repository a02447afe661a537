"""The error hierarchy: every mistake a user can make, as one family of exceptions.

`CramnetError` is a message and, where one helps, a hint saying how to fix it. Its kinds say where the
mistake was made; the command line prints any of them as `error: message` (and the hint) with exit 1
and never a traceback, and library callers can catch the base class. `SpecErrors` (dsl/errors.py),
the located mistakes of a spec, is one more kind. Any other exception reaching the command line is a
bug in cramnet. This module imports nothing from cramnet: every layer may use it.
"""

from __future__ import annotations


class CramnetError(Exception):
    """A user mistake told as a message and, where one helps, a hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class UsageError(CramnetError):
    """A flag, or a file named on the command line, that cannot be used (`--dim seq=x`, an unwritable
    output file, an unknown export format)."""


class PluginError(CramnetError):
    """A plugin module named by the user, or an installed `cramnet.blocks` entry point, failed to load."""


class DeviceUnavailable(CramnetError):
    """The device asked for is not there (`--device cuda` without a GPU), or has too little memory
    for what was asked of it."""


class ExportError(CramnetError):
    """A model that cannot be exported in the format asked for: a missing optional package (onnx), a
    model the exporter cannot trace, inputs the format does not take."""


class TrainError(CramnetError):
    """A mistake in a run's config, data or environment, or a run directory that cannot be used."""


class ProbeError(CramnetError):
    """A probe that cannot be made: an unknown node, a value that is not a tensor, an unknown split."""


__all__ = ["CramnetError", "DeviceUnavailable", "ExportError", "PluginError", "ProbeError", "TrainError", "UsageError"]
