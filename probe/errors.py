"""Probing's error kind, `ProbeError` (an unknown node, a value that is no tensor); it lives in the one
hierarchy of cramnet/errors.py and is re-exported here, where probing code imports it."""

from __future__ import annotations

from ..errors import ProbeError

__all__ = ["ProbeError"]
