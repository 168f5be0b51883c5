"""Noise schedules: they reach noise, their rate is the derivative of log ᾱ, the discrete chain agrees."""

from __future__ import annotations

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from pushforward.models.diffusion.schedules import MAX_FINAL_ALPHA_BAR, NoiseSchedule


@pytest.mark.parametrize("steps", [50, 100, 200, 300])
def test_common_short_linear_schedules_do_not_reach_noise(steps):
    # β from 1e-4 to 0.02 over T ≤ 300 steps ends at ᾱ_T ≥ 2e-3: rejected, naming the fix.
    with pytest.raises(UserError, match="alpha_bar_T") as error:
        NoiseSchedule("linear", steps, 1e-4, 0.02)
    assert "timesteps" in error.value.fix


def test_the_ho_et_al_schedule_and_the_cosine_reach_noise():
    for schedule in (NoiseSchedule("linear", 1000, 1e-4, 0.02), NoiseSchedule("cosine", 1000)):
        assert schedule.final_alpha_bar < MAX_FINAL_ALPHA_BAR
        assert schedule.final_alpha_bar > 0


def test_the_cosine_schedule_reads_neither_timesteps_nor_betas():
    # Why ddpm refuses them under the cosine schedule: its ᾱ(t) and β(t), all that training and
    # sampling use, are the same whatever they are.
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    reference, other = NoiseSchedule("cosine"), NoiseSchedule("cosine", steps=7, beta_start=0.3, beta_end=0.9)
    torch.testing.assert_close(other.log_alpha_bar(t), reference.log_alpha_bar(t), rtol=0, atol=0)
    torch.testing.assert_close(other.beta(t), reference.beta(t), rtol=0, atol=0)


def test_a_bad_schedule_is_rejected_when_the_model_is_made():
    with pytest.raises(UserError):
        create("ddpm", (2,), noise_schedule="linear", timesteps=100)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_beta_is_minus_the_derivative_of_log_alpha_bar(kind):
    schedule = NoiseSchedule(kind)
    t = torch.linspace(0.01, 0.99, 25, dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(schedule.log_alpha_bar(t).sum(), t)
    torch.testing.assert_close(schedule.beta(t.detach()), -gradient)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_discrete_chain_multiplies_to_the_continuous_alpha_bar(kind):
    schedule = NoiseSchedule(kind, steps=200, beta_end=0.2) if kind == "linear" else NoiseSchedule(kind, steps=200)
    betas = schedule.discrete_betas()
    assert ((betas > 0) & (betas < 1)).all()
    product = torch.cumprod(1 - betas, dim=0)
    grid = torch.linspace(0, 1, 201, dtype=torch.float64)[1:]
    torch.testing.assert_close(product, schedule.log_alpha_bar(grid).exp())
    # Linear β(t): the midpoint rule integrates it exactly over each step, so
    # β_i = 1 − exp(−β(t_mid)/T), ≈ β(t_mid)/T — Ho et al.'s linearly spaced β_i.
    if kind == "linear":
        torch.testing.assert_close(betas, -torch.expm1(-schedule.beta(grid - 0.5 / 200) / 200))


def test_alpha_and_sigma_preserve_variance():
    alpha, sigma = NoiseSchedule("cosine").alpha_sigma(torch.rand(100, dtype=torch.float64))
    torch.testing.assert_close(alpha.square() + sigma.square(), torch.ones(100, dtype=torch.float64))
