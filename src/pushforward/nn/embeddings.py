"""Embeddings of a scalar (a diffusion time) as a vector a network can read.

The sinusoidal features follow Vaswani et al., "Attention Is All You Need", NeurIPS 2017, as
used for the noise level in Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models",
NeurIPS 2020: frequencies in geometric progression, so a network sees both coarse and fine
changes of the time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, features: int, max_period: float = 10_000.0, scale: float = 1000.0) -> Tensor:
    """``(n,)`` times → ``(n, features)``: ``[sin(scale·t·ω_k), cos(scale·t·ω_k)]``.

    ``ω_k = max_period^(−k/half)`` for ``k = 0..half−1``; ``scale`` maps a time in [0, 1] to
    the range of step indices the original used (0..1000), so the fastest feature still turns
    over many times across the diffusion. An odd ``features`` gets one zero column.
    """
    if features < 1:
        raise ValueError(f"features must be >= 1, not {features}")
    half = features // 2
    exponent = torch.arange(half, device=t.device, dtype=t.dtype) / max(half, 1)
    frequencies = torch.exp(-math.log(max_period) * exponent)
    angles = (scale * t.reshape(-1, 1)) * frequencies
    embedding = torch.cat([angles.sin(), angles.cos()], dim=1)
    if features % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=1)
    return embedding


class SinusoidalEmbedding(nn.Module):
    """:func:`sinusoidal_embedding` as a module (no parameters)."""

    def __init__(self, features: int, max_period: float = 10_000.0, scale: float = 1000.0) -> None:
        super().__init__()
        if features < 1:
            raise ValueError(f"features must be >= 1, not {features}")
        self.features, self.max_period, self.scale = features, max_period, scale

    def forward(self, t: Tensor) -> Tensor:
        return sinusoidal_embedding(t, self.features, self.max_period, self.scale)
