"""DPM-Solver++(2M) against the closed-form Gaussian diffusion (see conftest): its first step is
DDIM's, it converges to the probability-flow ODE's exact solution at second order, and chunking
or v-prediction's folded update change nothing."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.diffusion.dpm_solver import multistep_coefficients, sample_dpm_solver
from pushforward.models.diffusion.samplers import from_epsilon_function, sample_chain, sampling_times

from .conftest import random_ddpm


def test_a_single_step_and_the_first_steps_equal_ddim(oracle):
    x1 = torch.randn(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    epsilon_at = from_epsilon_function(oracle.epsilon)
    # One step ends at σ = 0: both return x̂_0(x_1).
    torch.testing.assert_close(sample_dpm_solver(oracle.schedule, epsilon_at, x1, 1), sample_chain(oracle.schedule, epsilon_at, x1, 1, eta=0.0))
    # With no previous prediction the update is first order, i.e. DDIM's step (same grid).
    times = sampling_times(8)
    (alpha_t, sigma_t), (alpha_s, sigma_s) = (oracle.schedule.alpha_sigma(t) for t in times[:2])
    a, b, _, c = multistep_coefficients(float(alpha_s), float(sigma_s), float(alpha_t), float(sigma_t), None)
    epsilon = oracle.epsilon(x1, times[0])
    x0 = (x1 - sigma_t * epsilon) / alpha_t
    ddim = alpha_s * x0 + sigma_s * epsilon
    torch.testing.assert_close(a * x1 + b * x0, ddim, rtol=1e-12, atol=1e-12)
    assert c == 0.0


def test_converges_to_the_exact_ode_at_second_order_where_ddim_is_first(oracle):
    x1 = torch.randn(2000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = oracle.ode_solution(x1, 1.0, 0.0)
    epsilon_at = from_epsilon_function(oracle.epsilon)
    multistep, ddim = {}, {}
    for steps in (40, 80, 160):
        multistep[steps] = float((sample_dpm_solver(oracle.schedule, epsilon_at, x1, steps) - exact).abs().max())
        ddim[steps] = float((sample_chain(oracle.schedule, epsilon_at, x1, steps, eta=0.0) - exact).abs().max())
    for coarse, fine in ((40, 80), (80, 160)):
        assert multistep[coarse] / multistep[fine] > 3.0  # ≥ 4 for a second-order method (5–8 here, pre-asymptotic)
        assert ddim[coarse] / ddim[fine] < 2.5  # ≈ 2: first order
    assert multistep[80] < ddim[80] / 5


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_chunked_folded_solver_equals_the_written_out_solver(prediction):
    model = random_ddpm(prediction)
    x1 = torch.randn(1000, 2, dtype=torch.float64)
    # The paper's Algorithm 2 written out on the whole batch with the model's plain ε̂(x, t).
    times = sampling_times(10)
    x, previous, h_previous = x1, None, None
    with torch.no_grad():
        for t, s in zip(times[:-1], times[1:]):
            (alpha_t, sigma_t), (alpha_s, sigma_s) = model.schedule.alpha_sigma(t), model.schedule.alpha_sigma(s)
            x0 = (x - sigma_t * model.epsilon(x, t.to(x.dtype))) / alpha_t
            if float(sigma_s) == 0:
                x = x0
                break
            h = torch.log(alpha_s / sigma_s) - torch.log(alpha_t / sigma_t)
            d = x0 if previous is None else (1 + h / (2 * h_previous)) * x0 - h / (2 * h_previous) * previous
            x = sigma_s / sigma_t * x - alpha_s * torch.expm1(-h) * d
            previous, h_previous = x0, h
    for chunk_rows in (None, 1000, 333):
        samples = sample_dpm_solver(model.schedule, model.epsilon_at, x1, 10, chunk_rows)
        torch.testing.assert_close(samples, x, rtol=1e-9, atol=1e-9)
    assert not samples.is_inference()
