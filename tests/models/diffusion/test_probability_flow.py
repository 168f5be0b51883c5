"""The probability-flow log-density: exact on the closed-form Gaussian diffusion, and a
normalised density for a network (it integrates to 1 on a grid)."""

from __future__ import annotations

import torch

from pushforward.models.base import create
from pushforward.models.continuous.solvers import ODESolver
from pushforward.models.diffusion.probability_flow import probability_flow_log_prob, probability_flow_sample

from .conftest import GaussianOracle


def test_ode_log_density_matches_the_closed_form(oracle):
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.3 + 0.7
    solver = ODESolver("dopri5", rtol=1e-8, atol=1e-8)
    log_p, result = probability_flow_log_prob(oracle.schedule, oracle.epsilon, x, 1e-4, solver)
    # With the exact density at t = 1 in place of N(0, I), the change of variables is exact.
    exact_at_one = oracle.log_prob(result.y, 1.0) - result.delta_log_p
    torch.testing.assert_close(exact_at_one, oracle.log_prob(x, 1e-4), rtol=0, atol=1e-5)
    torch.testing.assert_close(result.y, oracle.ode_solution(x, 1e-4, 1.0), rtol=0, atol=1e-5)
    # The model's N(0, I) at t = 1 differs from the exact x_1 only by the schedule's leftover
    # signal ᾱ(1) < 1e-3.
    assert (log_p - oracle.log_prob(x, 1e-4)).abs().max() < 0.05


def test_ode_sampler_inverts_the_log_density_map(oracle):
    # dopri5 at 1e-8 leaves a global error up to 8e-5 on about 1 draw in 40 of the cosine
    # schedule (measured over 200 seeds); at 1e-10 the worst of those was 2e-8.
    x1 = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, nfe = probability_flow_sample(oracle.schedule, oracle.epsilon, x1, 1e-4, ODESolver("dopri5", rtol=1e-10, atol=1e-10))
    torch.testing.assert_close(x, oracle.ode_solution(x1, 1.0, 1e-4), rtol=0, atol=1e-5)
    assert nfe > 0


def test_network_density_integrates_to_one_on_a_grid():
    """The model's log_prob is a normalised density: its exp sums to 1 over a grid.

    An untrained ε̂ does not cancel the ODE's expansion, so its density would spread over
    ±100; here ε̂ is the exact one of N(0, 0.8²) data plus σ times the untrained network — a
    non-Gaussian density that stays on the grid (a larger correction needs a finer grid).
    """
    torch.manual_seed(0)
    model = create("ddpm", (2,), hidden_features=16, hidden_layers=2, ode_t_min=1e-3).double().eval()
    oracle = GaussianOracle(model.schedule, mean=0.0, scale=0.8)
    network = model.epsilon

    def epsilon(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        sigma = model.schedule.alpha_sigma(t.to(torch.float64))[1]
        return oracle.epsilon(x, t) + 0.5 * sigma * network(x, t)

    model.epsilon = epsilon  # what log_prob integrates
    edges = torch.linspace(-5.0, 5.0, 81, dtype=torch.float64)
    centres = (edges[1:] + edges[:-1]) / 2
    grid = torch.cartesian_prod(centres, centres)
    with torch.no_grad():
        density = model.log_prob(grid).exp()
    cell = float(edges[1] - edges[0]) ** 2
    total = float(density.sum()) * cell
    assert abs(total - 1.0) < 5e-3
    # And it is not merely the Gaussian the correction was added to.
    assert float((density - oracle.log_prob(grid, 1e-3).exp()).abs().sum()) * cell > 0.05
    assert model.nfe_log_prob.per_solve() > 0


def test_ddpm_trajectories_and_densities_over_time_are_the_exact_probability_flows(oracle):
    """`plot --trajectories` / `--animate` for ddpm: with the exact ε̂ of Gaussian data, the paths
    are the ODE's closed-form map from noise, and log_prob_at is the closed-form marginal p_s at
    the diffusion time s of each flow time (flow time 0 = noise at s = 1, 1 = data at t_min)."""
    model = create("ddpm", (2,), hidden_features=8, hidden_layers=1, noise_schedule=oracle.schedule.kind,
                   ode_rtol=1e-7, ode_atol=1e-7).double().eval()  # two orders inside the 1e-5 asked below
    oracle = GaussianOracle(model.schedule)
    model.epsilon = oracle.epsilon
    flow_times = torch.linspace(0.0, 1.0, 6, dtype=torch.float64)
    diffusion_times = model.diffusion_time(flow_times)
    assert float(diffusion_times[0]) == 1.0 and float(diffusion_times[-1]) == model.hparams.ode_t_min
    z = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    states = model.trajectories(z, flow_times)
    assert states.shape == (6, 40, 2)
    torch.testing.assert_close(states[0], z)
    for state, s in zip(states[1:], diffusion_times[1:].tolist()):
        torch.testing.assert_close(state, oracle.ode_solution(z, 1.0, s), rtol=0, atol=1e-5)

    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 0.3 + 0.7  # the data law
    torch.testing.assert_close(model.log_prob_at(x, 0.0), standard_normal(x))
    for t, s in zip(flow_times[1:].tolist(), diffusion_times[1:].tolist()):
        # N(0, I) stands for the exact x_1 (off by the schedule's leftover signal, ᾱ(1) < 1e-3).
        assert (model.log_prob_at(x, t) - oracle.log_prob(x, s)).abs().max() < 0.05
    torch.testing.assert_close(model.log_prob_at(x, 1.0), model.log_prob(x))


def standard_normal(x: torch.Tensor) -> torch.Tensor:
    return -0.5 * x.square().sum(dim=1) - torch.log(torch.tensor(2 * torch.pi, dtype=x.dtype))
