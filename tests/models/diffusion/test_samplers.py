"""Samplers against the closed-form Gaussian diffusion: DDIM is Euler's method for the
probability-flow ODE, so with the training grid's T steps it matches the ODE's exact solution
to first order in 1/T; ancestral sampling reaches the data distribution."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from pushforward.models.diffusion.samplers import generalized_step, sample_chain, sampling_times

from .conftest import MEAN, SCALE


def test_one_ddim_step_is_one_euler_step_in_scaled_coordinates(oracle):
    # x̄ = x/α, σ̄ = σ/α: DDIM's update is x̄_s = x̄_t + (σ̄_s − σ̄_t) ε̂, exactly.
    schedule = oracle.schedule
    x = torch.randn(20, 2, dtype=torch.float64)
    t, s = torch.tensor(0.6, dtype=torch.float64), torch.tensor(0.45, dtype=torch.float64)
    epsilon = oracle.epsilon(x, t)
    (a_t, sig_t), (a_s, sig_s) = schedule.alpha_sigma(t), schedule.alpha_sigma(s)
    euler = a_s * (x / a_t + (sig_s / a_s - sig_t / a_t) * epsilon)
    torch.testing.assert_close(generalized_step(schedule, x, epsilon, t, s, eta=0.0), euler, rtol=1e-12, atol=1e-12)


def test_ddim_with_the_training_steps_matches_the_exact_ode_to_first_order(oracle):
    """DDIM (η = 0) = Euler for the probability-flow ODE, whose solution is closed form here.

    What is provable: the global error of Euler's method is O(step); so with T = 1000 steps (the
    training grid) DDIM lands within a small tolerance of the ODE's solution, and halving the
    step halves the error. (DDIM does not equal the ODE at any finite T.)
    """
    generator = torch.Generator().manual_seed(0)
    x1 = torch.randn(2000, 2, generator=generator, dtype=torch.float64)
    exact = oracle.ode_solution(x1, 1.0, 0.0)
    errors = {}
    for steps in (250, 500, 1000):
        errors[steps] = float((sample_chain(oracle.schedule, oracle.epsilon, x1, steps, eta=0.0) - exact).abs().max())
    assert errors[1000] < 1e-2
    for coarse, fine in ((250, 500), (500, 1000)):
        assert 1.7 < errors[coarse] / errors[fine] < 2.3


def test_ancestral_sampling_reaches_the_data_distribution(oracle):
    generator = torch.Generator().manual_seed(1)
    n = 20_000
    x1 = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    x0 = sample_chain(oracle.schedule, oracle.epsilon, x1, 1000, eta=1.0, generator=generator)
    assert (x0.mean(0) - MEAN).abs().max() < 5 * SCALE / math.sqrt(n)
    assert (x0.std(0) / SCALE - 1).abs().max() < 5 * math.sqrt(1 / (2 * n)) + 2e-3


def test_sampling_times_run_from_one_to_zero():
    times = sampling_times(4)
    assert times.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]


@pytest.mark.parametrize("steps", [0, -3])
def test_zero_sampler_steps_are_user_errors(steps):
    with pytest.raises(UserError, match="at least 1 step"):
        sampling_times(steps)
    with pytest.raises(UserError):
        create("ddpm", (2,), sampler_steps=steps)
