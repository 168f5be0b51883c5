"""The forward process has the closed-form marginals; the ε / v / x̂_0 conversions invert each other."""

from __future__ import annotations

import math

import torch

from pushforward.models.diffusion.noising import epsilon_from_v, noisy_sample, velocity, x0_from_epsilon
from pushforward.models.diffusion.schedules import NoiseSchedule


def test_marginal_of_x_t_given_x_0_is_the_closed_form_gaussian():
    schedule = NoiseSchedule("linear")
    generator = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.tensor([1.5, -2.0], dtype=torch.float64).expand(n, 2)
    for t in (0.05, 0.3, 0.8):
        times = torch.full((n,), t, dtype=torch.float64)
        x_t = noisy_sample(schedule, x0, times, torch.randn(n, 2, generator=generator, dtype=torch.float64))
        alpha, sigma = schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64))
        mean_error = (x_t.mean(0) - alpha * x0[0]).abs().max()
        assert mean_error < 5 * sigma / math.sqrt(n)
        assert (x_t.var(0) / sigma**2 - 1).abs().max() < 5 * math.sqrt(2 / n)


def test_noising_in_two_steps_has_the_one_step_marginal():
    # q(x_t | x_s) = N(√(ᾱ_t/ᾱ_s) x_s, 1 − ᾱ_t/ᾱ_s) composed with q(x_s | x_0) is q(x_t | x_0): the
    # schedule's marginals come from an actual Markov chain.
    schedule = NoiseSchedule("cosine")
    generator = torch.Generator().manual_seed(1)
    n, s, t = 200_000, 0.2, 0.6
    x0 = torch.full((n, 1), 2.0, dtype=torch.float64)
    x_s = noisy_sample(schedule, x0, torch.full((n,), s, dtype=torch.float64), torch.randn(n, 1, generator=generator, dtype=torch.float64))
    ratio = torch.exp(schedule.log_alpha_bar(torch.tensor(t, dtype=torch.float64)) - schedule.log_alpha_bar(torch.tensor(s, dtype=torch.float64)))
    x_t = ratio.sqrt() * x_s + (1 - ratio).sqrt() * torch.randn(n, 1, generator=generator, dtype=torch.float64)
    alpha, sigma = schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64))
    assert abs(float(x_t.mean()) - 2.0 * float(alpha)) < 5 * float(sigma) / math.sqrt(n)
    assert abs(float(x_t.var()) / float(sigma) ** 2 - 1) < 5 * math.sqrt(2 / n)


def test_v_and_epsilon_conversions_invert_each_other():
    schedule = NoiseSchedule("cosine")
    t = torch.rand(50, dtype=torch.float64) * 0.98 + 0.01
    alpha, sigma = schedule.alpha_sigma(t)
    x0, noise = torch.randn(50, 3, dtype=torch.float64), torch.randn(50, 3, dtype=torch.float64)
    x_t = noisy_sample(schedule, x0, t, noise)
    v = velocity(alpha, sigma, x0, noise)
    torch.testing.assert_close(epsilon_from_v(alpha, sigma, x_t, v), noise)
    torch.testing.assert_close(x0_from_epsilon(alpha, sigma, x_t, noise), x0)
