"""Pairwise Euclidean distances in chunks: the tensor kernel behind the energy statistics."""

from __future__ import annotations

import torch
from torch import Tensor

from pushforward.device import precise_dtype

DEFAULT_CHUNK = 4096


def flatten_events(x: Tensor) -> Tensor:
    """(n, *event_shape) → (n, d): sample metrics treat every event as a vector."""
    return x.reshape(x.shape[0], -1)


def mean_pairwise_distance(x: Tensor, y: Tensor, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Mean of ‖x_i − y_j‖ over all n·m pairs (a V-statistic), accumulated in float64 (float32
    on a device without it, MPS).

    Distances are computed directly (not through ‖x‖² + ‖y‖² − 2x·y), which would lose
    precision for nearby points exactly where two-sample statistics need it.
    """
    wide = precise_dtype(x.device)
    total = torch.zeros((), dtype=wide, device=x.device)
    for block in x.split(chunk):
        distances = torch.cdist(block, y, compute_mode="donot_use_mm_for_euclid_dist")
        total += distances.sum(dtype=wide)
    return total / (x.shape[0] * y.shape[0])
