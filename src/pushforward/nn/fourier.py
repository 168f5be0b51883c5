"""Random Fourier features: a fixed input layer that lets an MLP resolve small scales.

M. Tancik, P. P. Srinivasan, B. Mildenhall, S. Fridovich-Keil, N. Raghavan, U. Singhal,
R. Ramamoorthi, J. T. Barron, R. Ng, "Fourier features let networks learn high frequency
functions in low dimensional domains", NeurIPS 2020. A ReLU MLP on raw low-dimensional inputs
learns low frequencies first and fine detail only very slowly (spectral bias). Mapping the input
through γ(v) = [cos 2πBv, sin 2πBv], with the rows of B drawn once from N(0, s² I), turns the
network's kernel into a stationary one of bandwidth ~ 1/s, so details of that size are learned
at the pace of coarse ones. B is a buffer, not a parameter: it is saved with the weights and
never trained.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierFeatures(nn.Module):
    """v ∈ R^d ↦ [v, cos 2πBv, sin 2πBv] ∈ R^{d + 2m} with B ∈ R^{m×d}, B_ij ~ N(0, scale²).

    The raw input is kept beside the features, so the network still sees the coarse position
    directly (γ alone is periodic along every row of B). ``out_features`` is d + 2m.
    """

    def __init__(self, in_features: int, frequencies: int, scale: float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if frequencies < 1:
            raise ValueError(f"frequencies must be at least 1, not {frequencies}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, not {scale}")
        self.in_features = in_features
        self.out_features = in_features + 2 * frequencies
        self.register_buffer("frequencies", scale * torch.randn(frequencies, in_features, generator=generator))

    def forward(self, v: Tensor) -> Tensor:
        phase = 2 * math.pi * v @ self.frequencies.T
        return torch.cat([v, torch.cos(phase), torch.sin(phase)], dim=-1)
