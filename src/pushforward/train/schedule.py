"""Learning-rate schedules laid over a budget (a fraction of progress in [0, 1])."""

from __future__ import annotations

import math


def learning_rate_factor(progress: float, *, schedule: str, warmup: float, final: float) -> float:
    """Multiplier of the base learning rate at ``progress`` ∈ [0, 1] of the budget.

    Linear warm-up, then cosine (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with
    Warm Restarts", 2017, without restarts) or linear decay to ``final``. Annealing to a small
    rate at the end of a fixed budget matters for density models: the last low-rate steps
    sharpen edges that a constant rate keeps blurring with gradient noise.
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 1e-3)
    if schedule == "constant":
        return 1.0
    remaining = (progress - warmup) / max(1.0 - warmup, 1e-12)
    if schedule == "cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * remaining))
    elif schedule == "linear":
        shape = 1.0 - remaining
    else:
        raise ValueError(f"unknown schedule {schedule}")
    return final + (1.0 - final) * shape
