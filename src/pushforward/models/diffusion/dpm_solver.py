"""DPM-Solver++(2M): a second-order multistep solver of the probability-flow ODE at one network
call per step, the cost of DDIM.

Lu, Zhou, Bao, Chen, Li, Zhu, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
Probabilistic Models", 2022 (arXiv:2211.01095), Algorithm 2. In the half log-SNR
λ = log(α/σ), the ODE's solution from t to s is exact for the linear part, and only the data
prediction x̂_0(x_λ, λ) is integrated numerically:

    x_s = (σ_s/σ_t) x_t + α_s (1 − e^{−h}) D,   h = λ_s − λ_t,

with D = x̂_0 at t for the first-order step (which *is* DDIM) and, for the multistep
second-order step, the linear extrapolation D = (1 + 1/(2r)) x̂_0(t) − 1/(2r) x̂_0(t_prev),
r = h_prev/h, from the previous step's prediction, which costs no extra network call.

Why it is here: DDIM is Euler's method, and its first-order error decides what 50 steps can
draw. On the checkerboard (a ddpm trained 17,624 steps) the energy-distance ratio of 10,000
samples (mean of 10 draws) was DDIM-50 1.44, DDIM-200 1.13, the adaptive ODE 1.13, ancestral
DDPM-1000 1.08, and this solver 1.13 at 50 steps and 1.20 at 25. Spacing DDIM's 50 steps
otherwise did not help (t^p grids with p = 0.5 – 3 and log-SNR-uniform were all worse).
The last step, to σ = 0 where λ = ∞, is first order (x_0 = x̂_0), as in the paper's
"lower order final" variant.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pushforward.models.diffusion.samplers import EpsilonAtTime, sampling_times
from pushforward.models.diffusion.schedules import NoiseSchedule
from pushforward.nn.chains import prediction_steps_


def _alpha_sigma(schedule: NoiseSchedule, t: Tensor) -> tuple[float, float]:
    log_alpha_bar = float(schedule.log_alpha_bar(t))
    return math.exp(0.5 * log_alpha_bar), math.sqrt(max(-math.expm1(log_alpha_bar), 0.0))


def multistep_coefficients(alpha_s: float, sigma_s: float, alpha_t: float, sigma_t: float, h_previous: float | None) -> tuple[float, float, float, float]:
    """``(a, b, h, c_prev)`` of one step: x_s = a x_t + b x̂_0(t) + c_prev x̂_0(t_prev).

    First order (``h_previous`` None) when there is no previous prediction; a step that ends at
    σ_s = 0 returns x̂_0 itself.
    """
    if sigma_s == 0.0:
        return 0.0, 1.0, math.inf, 0.0
    h = math.log(alpha_s / sigma_s) - math.log(alpha_t / sigma_t)
    scale = alpha_s * -math.expm1(-h)
    if h_previous is None:
        return sigma_s / sigma_t, scale, h, 0.0
    half_inverse_ratio = h / (2.0 * h_previous)  # 1/(2r), r = h_prev/h
    return sigma_s / sigma_t, scale * (1.0 + half_inverse_ratio), h, -scale * half_inverse_ratio


def sample_dpm_solver(
    schedule: NoiseSchedule,
    epsilon_at: EpsilonAtTime,
    x1: Tensor,
    steps: int,
    chunk_rows: int | None = None,
) -> Tensor:
    """``steps`` steps of DPM-Solver++(2M) from x_1 (noise) to x_0, on DDIM's time grid.

    Per chunk of ``chunk_rows`` points (``None``: all at once) a step is one network call and a
    few fused updates; each chunk goes through every step before the next chunk starts, with
    its own x̂_0 of the previous step.
    """
    if chunk_rows is not None and chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, not {chunk_rows}")
    times = sampling_times(steps)
    with torch.inference_mode():
        x = x1.clone()
        rows = chunk_rows or max(x.shape[0], 1)
        # Every step's coefficients and network first: then each chunk of points goes through
        # the whole chain (each point's path is its own), with its own previous prediction, as
        # x̂_0 = α x + β g(x) and x ← a x + b x̂_0 + c x̂_0,prev (fused by a time-conditioned network).
        plan = []
        h_previous: float | None = None
        for t, s in zip(times[:-1], times[1:]):
            alpha_t, sigma_t = _alpha_sigma(schedule, t)
            alpha_s, sigma_s = _alpha_sigma(schedule, s)
            a, b, h, c = multistep_coefficients(alpha_s, sigma_s, alpha_t, sigma_t, h_previous)
            epsilon = epsilon_at(t.to(x.dtype))
            # x̂_0 = (x − σ_t ε̂)/α_t with ε̂ = p x + q g(x): an affine function of x and g(x).
            x_weight, g_weight = (1.0 - sigma_t * epsilon.p) / alpha_t, -sigma_t * epsilon.q / alpha_t
            plan.append((epsilon.g, x_weight, g_weight, a, b, c))
            h_previous = h
        for start in range(0, x.shape[0], rows):
            prediction_steps_(x[start : start + rows], plan)
    # Out of inference mode, so the caller gets an ordinary tensor autograd may use later.
    return x.clone()
