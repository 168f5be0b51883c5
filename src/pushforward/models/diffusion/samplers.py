"""Samplers from noise to data, on a grid of ``steps`` times from 1 down to 0.

One update covers both (Song, Meng, Ermon, "Denoising Diffusion Implicit Models", ICLR 2021,
eq. 12): from x_t, predict ε̂ and x̂_0 = (x_t − σ_t ε̂)/α_t, then

    x_s = α_s x̂_0 + √(1 − ᾱ_s − c²) ε̂ + c z,   c = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s).

η = 1 is the ancestral sampler of Ho, Jain, Abbeel (2020) (the posterior q(x_s | x_t, x̂_0));
η = 0 is deterministic DDIM, which is exactly Euler's method for the probability-flow ODE
written in x̄ = x/α against σ̄ = σ/α: x̄_s = x̄_t + (σ̄_s − σ̄_t) ε̂ (see
:mod:`pushforward.models.diffusion.probability_flow`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.models.diffusion.schedules import NoiseSchedule

EpsilonFunction = Callable[[Tensor, Tensor], Tensor]
"""``(x_t, t) → ε̂``, with ``t`` a 0-d tensor shared by the whole batch."""


def check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UserError(f"a sampler needs at least 1 step, not {steps!r}", "use --set sampler_steps=50")
    return steps


def sampling_times(steps: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``steps + 1`` times from 1 down to 0, evenly spaced."""
    return torch.linspace(1, 0, check_steps(steps) + 1, dtype=dtype)


def generalized_step(
    schedule: NoiseSchedule,
    x: Tensor,
    epsilon: Tensor,
    t: Tensor,
    s: Tensor,
    eta: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One update from time ``t`` to an earlier time ``s`` (0-d float64 tensors)."""
    log_bar_t, log_bar_s = schedule.log_alpha_bar(t), schedule.log_alpha_bar(s)
    alpha_t, sigma_t = torch.exp(0.5 * log_bar_t), torch.sqrt(-torch.expm1(log_bar_t))
    alpha_s, variance_s = torch.exp(0.5 * log_bar_s), -torch.expm1(log_bar_s)
    x0 = (x - sigma_t.to(x.dtype) * epsilon) / alpha_t.to(x.dtype)
    c = torch.zeros((), dtype=torch.float64)
    if eta > 0 and float(s) > 0:
        c = eta * torch.sqrt(variance_s / sigma_t.square() * -torch.expm1(log_bar_t - log_bar_s))
    direction = torch.sqrt(torch.clamp(variance_s - c.square(), min=0.0))
    out = alpha_s.to(x.dtype) * x0 + direction.to(x.dtype) * epsilon
    if float(c) > 0:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        out = out + c.to(x.dtype) * noise
    return out


@torch.no_grad()
def sample_chain(
    schedule: NoiseSchedule,
    epsilon_fn: EpsilonFunction,
    x1: Tensor,
    steps: int,
    eta: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Run ``steps`` updates from x_1 (noise) to x_0; η = 0: DDIM, η = 1: ancestral DDPM."""
    times = sampling_times(steps)
    x = x1
    for t, s in zip(times[:-1], times[1:]):
        epsilon = epsilon_fn(x, t.to(x.dtype))
        x = generalized_step(schedule, x, epsilon, t, s, eta, generator)
    return x
