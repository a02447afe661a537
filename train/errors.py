"""Training's error kind, `TrainError` (a mistake in a run's config, data or environment); it lives in
the one hierarchy of cramnet/errors.py and is re-exported here, where training code imports it."""

from __future__ import annotations

from ..errors import TrainError

__all__ = ["TrainError"]
