"""The forward (noising) process q(x_t | x_0) = N(√ᾱ(t) x_0, (1 − ᾱ(t)) I), and the targets
the denoiser learns: ε (Ho, Jain, Abbeel, 2020) or v = √ᾱ ε − √(1 − ᾱ) x_0 (Salimans & Ho,
"Progressive Distillation for Fast Sampling of Diffusion Models", ICLR 2022).
"""

from __future__ import annotations

from torch import Tensor

from pushforward.models.diffusion.schedules import NoiseSchedule


def _per_sample(scale: Tensor, like: Tensor) -> Tensor:
    """``(n,)`` scales shaped to broadcast over ``(n, *event)``."""
    return scale.reshape(-1, *([1] * (like.ndim - 1)))


def noisy_sample(schedule: NoiseSchedule, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """x_t = √ᾱ(t) x_0 + √(1 − ᾱ(t)) ε for each row (``t`` of shape ``(n,)``)."""
    alpha, sigma = schedule.alpha_sigma(t)
    return _per_sample(alpha, x0) * x0 + _per_sample(sigma, x0) * noise


def velocity(alpha: Tensor, sigma: Tensor, x0: Tensor, noise: Tensor) -> Tensor:
    """v = α ε − σ x_0."""
    return _per_sample(alpha, x0) * noise - _per_sample(sigma, x0) * x0


def epsilon_from_v(alpha: Tensor, sigma: Tensor, x_t: Tensor, v: Tensor) -> Tensor:
    """ε = σ x_t + α v (since α² + σ² = 1)."""
    return _per_sample(sigma, x_t) * x_t + _per_sample(alpha, x_t) * v


def x0_from_epsilon(alpha: Tensor, sigma: Tensor, x_t: Tensor, epsilon: Tensor) -> Tensor:
    """x̂_0 = (x_t − σ ε) / α."""
    return (x_t - _per_sample(sigma, x_t) * epsilon) / _per_sample(alpha, x_t)
