"""The probability-flow ODE of a diffusion, and the exact log-density it gives.

Song, Sohl-Dickstein, Kingma, Kumar, Ermon, Poole, "Score-Based Generative Modeling through
Stochastic Differential Equations", ICLR 2021: the VP SDE dx = −½β x dt + √β dW has the same
marginals p_t as the deterministic ODE

    dx/dt = −½ β(t) (x + ∇ log p_t(x)) = −½ β(t) (x − ε(x, t) / σ(t)),

using ∇ log p_t = −ε/σ. With the learned ε̂ this ODE is a continuous normalizing flow from
x_{t_min} to x_1, so by the instantaneous change of variables (Chen et al., 2018)

    log p(x) = log N(x_1; 0, I) + ∫_{t_min}^1 div f(t, x_t) dt,

solved with the continuous-flow core's solvers and divergences
(:mod:`pushforward.models.continuous.solvers`). It is exact *for the model the ODE defines*, up
to the solver's tolerance, the Hutchinson estimator's noise when that is used, and two modelling
choices: the density is that of x at ``t_min`` (a hair of noise, σ(t_min), keeps the field
finite at t = 0) and x_1 is taken as N(0, I) (true up to ᾱ(1) < 1e-3).

In x̄ = x/α against σ̄ = σ/α the same ODE reads dx̄/dσ̄ = ε(x, t): one DDIM step (η = 0) is
exactly one Euler step of it (:mod:`pushforward.models.diffusion.samplers`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pushforward.device import widened
from pushforward.models.continuous.solvers import (
    FlowResult,
    ODESolver,
    integrate,
    integrate_with_log_density,
    standard_normal_log_prob,
)
from pushforward.models.diffusion.schedules import NoiseSchedule

EpsilonFunction = Callable[[Tensor, Tensor], Tensor]


def probability_flow_field(
    schedule: NoiseSchedule, epsilon_fn: EpsilonFunction, t_min: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """``(t, x) → dx/dt`` of the probability-flow ODE on [t_min, 1] (``t`` a 0-d tensor)."""

    def field(t: Tensor, x: Tensor) -> Tensor:
        # Adaptive solvers may probe a little past the end of the span and interpolate back:
        # keep t where the field is defined (σ = 0 below t = 0; the cosine ends at t = 1).
        t = t.clamp(t_min, 1.0)
        t_wide = widened(t)
        beta = schedule.beta(t_wide).to(x.dtype)
        sigma = schedule.alpha_sigma(t_wide)[1].to(x.dtype)
        return -0.5 * beta * (x - epsilon_fn(x, t) / sigma)

    return field


def probability_flow_log_prob(
    schedule: NoiseSchedule,
    epsilon_fn: EpsilonFunction,
    x: Tensor,
    t_min: float,
    solver: ODESolver,
    divergence: str = "exact",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, FlowResult]:
    """log p(x) (nats, ``(n,)``) by integrating the ODE from ``t_min`` to 1; also the solve."""
    field = probability_flow_field(schedule, epsilon_fn, t_min)
    result = integrate_with_log_density(field, x, t_min, 1.0, solver, divergence=divergence, generator=generator)
    return standard_normal_log_prob(result.y) - result.delta_log_p, result


def probability_flow_sample(
    schedule: NoiseSchedule, epsilon_fn: EpsilonFunction, x1: Tensor, t_min: float, solver: ODESolver
) -> tuple[Tensor, int]:
    """Noise x_1 → x_{t_min} by solving the ODE backwards; also the NFE."""
    solution = integrate(probability_flow_field(schedule, epsilon_fn, t_min), x1, [1.0, t_min], solver)
    final = solution.final
    assert isinstance(final, Tensor)
    return final, solution.nfe
