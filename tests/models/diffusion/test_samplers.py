"""Samplers against the closed-form Gaussian diffusion: DDIM is Euler's method for the
probability-flow ODE, so with the training grid's T steps it matches the ODE's exact solution
to first order in 1/T; ancestral sampling reaches the data distribution."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from pushforward.models.diffusion.samplers import from_epsilon_function, generalized_step, sample_chain, sampling_times

from .conftest import MEAN, SCALE, random_ddpm


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
        errors[steps] = float((sample_chain(oracle.schedule, from_epsilon_function(oracle.epsilon), x1, steps, eta=0.0) - exact).abs().max())
    assert errors[1000] < 1e-2
    for coarse, fine in ((250, 500), (500, 1000)):
        assert 1.7 < errors[coarse] / errors[fine] < 2.3


def test_ancestral_sampling_reaches_the_data_distribution(oracle):
    generator = torch.Generator().manual_seed(1)
    n = 20_000
    x1 = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    x0 = sample_chain(oracle.schedule, from_epsilon_function(oracle.epsilon), x1, 1000, eta=1.0, generator=generator)
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


def _reference_chain(model, x1, steps, eta, generator):
    """DDIM / DDPM written out from the paper's x̂_0 form, one full-batch network call a step."""
    times = sampling_times(steps)
    x = x1
    for t, s in zip(times[:-1], times[1:]):
        epsilon = model.epsilon(x, t.to(x.dtype))
        (alpha_t, sigma_t), (alpha_s, sigma_s) = model.schedule.alpha_sigma(t), model.schedule.alpha_sigma(s)
        x0 = (x - sigma_t * epsilon) / alpha_t
        c = eta * (sigma_s / sigma_t) * torch.sqrt(1 - (alpha_t / alpha_s) ** 2) if float(s) > 0 else torch.zeros(())
        x = alpha_s * x0 + torch.sqrt(sigma_s**2 - c**2) * epsilon
        if float(c) > 0:
            x = x + c * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return x


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_chunked_fused_sampler_equals_the_written_out_chain(prediction, eta):
    # The sampler folds ε = σx + αv and x̂_0 into one update and visits the batch in chunks;
    # neither may change the samples or, for the ancestral sampler, the noise drawn.
    model = random_ddpm(prediction)
    x1 = torch.randn(1000, 2, dtype=torch.float64)
    with torch.no_grad():
        reference = _reference_chain(model, x1, 12, eta, torch.Generator().manual_seed(3))
    for chunk_rows in (None, 1000, 333):
        samples = sample_chain(model.schedule, model.epsilon_at, x1, 12, eta, torch.Generator().manual_seed(3), chunk_rows)
        torch.testing.assert_close(samples, reference, rtol=1e-9, atol=1e-9)
    assert not samples.is_inference()


def test_model_samples_do_not_depend_on_the_chunk_size(monkeypatch):
    import pushforward.models.diffusion.model as model_module

    torch.manual_seed(0)
    model = create("ddpm", (2,), hidden_features=16, hidden_layers=2, sampler="ddpm")
    drawn = {}
    for rows in (100_000, 64):
        monkeypatch.setattr(model_module, "DEFAULT_CHUNK_ROWS", rows)
        drawn[rows] = model.sample(500, torch.Generator().manual_seed(5))
    torch.testing.assert_close(drawn[64], drawn[100_000], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_a_step_with_or_without_the_networks_fused_update_is_a_x_plus_b_epsilon(prediction):
    model = random_ddpm(prediction)
    t, x = torch.tensor(0.4, dtype=torch.float64), torch.randn(50, 2, dtype=torch.float64)
    with torch.no_grad():
        expected = 0.8 * x - 0.3 * model.epsilon(x, t)
        epsilon = model.epsilon_at(t)
        fused = epsilon.step_(x.clone(), 0.8, -0.3)
        # A plain function in place of the time-conditioned network: the written-out step.
        written_out = epsilon._replace(g=lambda points: epsilon.g(points)).step_(x.clone(), 0.8, -0.3)
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(written_out, expected)


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_the_model_at_several_times_at_once_predicts_the_noise_at_each(prediction):
    model = random_ddpm(prediction)
    times, x = torch.tensor([0.9, 0.5, 0.02], dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)
    with torch.no_grad():
        for epsilon, t in zip(model.epsilon_at_times(times), times):
            torch.testing.assert_close(epsilon.p * x + epsilon.q * epsilon.g(x), model.epsilon(x, t))
