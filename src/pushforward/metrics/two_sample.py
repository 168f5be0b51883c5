"""Two-sample statistics: could these generated points be told from real ones?"""

from __future__ import annotations

import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.metrics.distances import DEFAULT_CHUNK, flatten_events, mean_pairwise_distance


def check_samples(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Validate two sample sets and return them as (n, d) float tensors on one device."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.dim() < 1 or y.dim() < 1:
        raise UserError("sample sets must have one row per point", "pass arrays of shape (n, d)")
    x = flatten_events(x if x.dim() > 1 else x[:, None]).double()
    y = flatten_events(y if y.dim() > 1 else y[:, None]).double().to(x.device)
    if x.shape[1] != y.shape[1]:
        raise UserError(
            f"the two sample sets have different dimensions ({x.shape[1]} and {y.shape[1]})",
            "compare samples of the same data",
        )
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise UserError("each sample set needs at least 2 points", "draw more samples")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise UserError("the samples contain NaN or infinite values", "remove them (they may come from a diverged model)")
    return x, y


def energy_distance(x: Tensor, y: Tensor, chunk: int = DEFAULT_CHUNK) -> float:
    """The energy distance 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ between two samples (V-statistic).

    Székely & Rizzo, "Testing for equal distributions in high dimensions", InterStat (2004).
    It is zero only when the distributions are equal; between two finite samples of one
    distribution it is small but positive, so compare it with its noise floor (the same
    statistic between two independent real samples of the same sizes).
    """
    x, y = check_samples(x, y)
    between = mean_pairwise_distance(x, y, chunk)
    within_x = mean_pairwise_distance(x, x, chunk)
    within_y = mean_pairwise_distance(y, y, chunk)
    return float(2 * between - within_x - within_y)
