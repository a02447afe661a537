"""Searching a space of architectures: `choice(…)` lets checked point by point, and `cramnet sweep` on Optuna."""
