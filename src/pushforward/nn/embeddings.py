"""Embeddings for time-dependent networks (vector fields, denoisers): of a time t, and of a state x.

* :class:`FourierTime` — t with fixed Fourier features, for continuous flows.
* :class:`FourierFeatures` — random Fourier features of the state x (Tancik et al., 2020).
* :func:`sinusoidal_embedding` / :class:`SinusoidalEmbedding` — the transformer's sinusoidal
  features (Vaswani et al., "Attention Is All You Need", NeurIPS 2017) as used for the noise
  level in Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020:
  frequencies in geometric progression, so a network sees both coarse and fine changes.
"""


from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pushforward.nn.sinusoids import cos, sin


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

    def forward(self, t: Tensor | float, n: int) -> Tensor:
        t = torch.as_tensor(t, dtype=self.scales.dtype, device=self.scales.device)
        t = t.reshape(-1, 1).expand(n, 1) if t.numel() == 1 else t.reshape(n, 1)
        if self.frequencies == 0:
            return t
        angles = t * self.scales.to(t.dtype)
        return torch.cat([t, angles.sin(), angles.cos()], dim=1)


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


class FourierFeatures(nn.Module):
    """``x ↦ (x, sin(2π B x), cos(2π B x))`` with a fixed Gaussian matrix ``B`` (``features × d``).

    Tancik, Srinivasan, Mildenhall, Fridovich-Keil, Raghavan, Singhal, Ramamoorthi, Barron,
    Ng, "Fourier features let networks learn high frequency functions in low dimensional
    domains", NeurIPS 2020: an MLP on raw low-dimensional coordinates is biased towards smooth
    functions; sinusoids of random projections with entries ``B ~ N(0, scale²)`` let it fit
    sharp ones (here: a velocity field that jumps at the edges of the data's support).
    ``scale`` sets the bandwidth (in units of the standardised data). ``B`` is drawn from a
    fixed seed and stored as a buffer, so a saved model reloads with the same features.
    ``features=0`` is the identity.
    """

    def __init__(self, dimension: int, features: int = 0, scale: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        if features < 0 or not scale > 0:
            raise ValueError(f"features must be >= 0 and scale > 0, not {features} and {scale}")
        generator = torch.Generator().manual_seed(seed)
        self.dimension = int(dimension)
        self.register_buffer("projection", 2 * math.pi * scale * torch.randn(features, dimension, generator=generator))

    @property
    def features(self) -> int:
        return self.dimension + 2 * self.projection.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        if self.projection.shape[0] == 0:
            return x
        angles = x @ self.projection.to(x.dtype).T
        return torch.cat([x, sin(angles), cos(angles)], dim=1)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # Without features this module is the identity, and networks saved before they had the
        # option stored nothing for it: such weights load as the identity they were.
        key = prefix + "projection"
        if key not in state_dict and self.projection.shape[0] == 0:
            state_dict[key] = self.projection
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]
