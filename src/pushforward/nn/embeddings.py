"""Embeddings of a scalar time t for time-dependent networks (vector fields, denoisers)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierTime(nn.Module):
    """``t ↦ (t, sin(2π k t), cos(2π k t))`` for ``k = 1 .. frequencies`` (fixed, not learned).

    Random or fixed Fourier features let an MLP represent fields that change quickly in time
    (Tancik et al., "Fourier features let networks learn high frequency functions in low
    dimensional domains", NeurIPS 2020); with ``frequencies=0`` the embedding is ``t`` alone,
    the plain concatenation used by FFJORD (Grathwohl et al., 2019).

    ``t`` may be a scalar (one time for the whole batch, as an ODE solver passes it) or a
    tensor of shape ``(n,)`` (a time per sample, as flow-matching training draws them); the
    result is ``(n, features)`` either way, given the batch size ``n``.
    """

    def __init__(self, frequencies: int = 0) -> None:
        super().__init__()
        if frequencies < 0:
            raise ValueError(f"frequencies must be >= 0, not {frequencies}")
        self.frequencies = int(frequencies)
        self.register_buffer("scales", 2 * math.pi * torch.arange(1, frequencies + 1, dtype=torch.float32), persistent=False)

    @property
    def features(self) -> int:
        return 1 + 2 * self.frequencies

    def forward(self, t: Tensor, n: int) -> Tensor:
        t = torch.as_tensor(t, dtype=self.scales.dtype, device=self.scales.device)
        t = t.reshape(-1, 1).expand(n, 1) if t.numel() == 1 else t.reshape(n, 1)
        if self.frequencies == 0:
            return t
        angles = t * self.scales.to(t.dtype)
        return torch.cat([t, angles.sin(), angles.cos()], dim=1)
