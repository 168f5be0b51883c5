"""Gaussian posteriors q(z|x): exact log-densities against torch.distributions, draws that follow them."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.vae.posteriors import DiagonalPosterior, FlowPosterior, FullCovariancePosterior, cholesky_from_raw


def _raw(kind, n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    width = kind().raw_features(d)
    return torch.randn(n, width, dtype=torch.float64, generator=generator) * 0.7


def _reference(kind, raw: torch.Tensor, d: int) -> torch.distributions.Distribution:
    """The same Gaussian built independently by torch.distributions."""
    mean = raw[:, :d]
    if kind is DiagonalPosterior:
        return torch.distributions.Independent(torch.distributions.Normal(mean, raw[:, d:].exp()), 1)
    factor = torch.diag_embed(raw[:, d : 2 * d].exp())
    rows, cols = torch.tril_indices(d, d, offset=-1)
    factor[:, rows, cols] = raw[:, 2 * d :]
    return torch.distributions.MultivariateNormal(mean, scale_tril=factor)


@pytest.mark.parametrize("kind", [DiagonalPosterior, FullCovariancePosterior])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_log_density_and_draws_match_torch_distributions(kind, d):
    generator = torch.Generator().manual_seed(d)
    raw = _raw(kind, 7, d, generator)
    reference = _reference(kind, raw, d)
    posterior = kind()
    z = torch.randn(7, d, dtype=torch.float64, generator=generator) * 2
    torch.testing.assert_close(posterior.log_prob(raw, z), reference.log_prob(z))
    noise = torch.randn(5, 7, d, dtype=torch.float64, generator=generator)
    draws, log_q = posterior.rsample(raw, noise)
    assert draws.shape == (5, 7, d) and log_q.shape == (5, 7)
    # The log-density returned with each draw is the density at that draw.
    torch.testing.assert_close(log_q, reference.log_prob(draws))
    torch.testing.assert_close(posterior.mean(raw), reference.mean)


def test_full_covariance_draws_have_the_covariance_of_the_factor():
    generator = torch.Generator().manual_seed(0)
    d, k = 3, 200_000
    raw = _raw(FullCovariancePosterior, 1, d, generator)
    draws, _ = FullCovariancePosterior().rsample(raw, torch.randn(k, 1, d, dtype=torch.float64, generator=generator))
    factor = cholesky_from_raw(raw[:, d : 2 * d], raw[:, 2 * d :])[0]
    covariance = factor @ factor.T
    empirical = torch.cov(draws[:, 0].T)
    # Each entry's sampling standard error: sqrt((Σ_ii Σ_jj + Σ_ij²) / k) for Gaussian draws.
    standard_error = ((torch.outer(covariance.diagonal(), covariance.diagonal()) + covariance.square()) / k).sqrt()
    assert ((empirical - covariance).abs() < 5 * standard_error).all()
    assert covariance[1, 0].abs() > 20 * standard_error[1, 0]  # the correlation is really there
    torch.testing.assert_close(draws[:, 0].mean(0), raw[0, :d], atol=5 * math.sqrt(float(covariance.diagonal().max()) / k), rtol=0)


def test_full_covariance_gradients_agree_with_finite_differences():
    generator = torch.Generator().manual_seed(4)
    raw = _raw(FullCovariancePosterior, 3, 2, generator).requires_grad_()
    noise = torch.randn(2, 3, 2, dtype=torch.float64, generator=generator)

    def objective(raw):
        z, log_q = FullCovariancePosterior().rsample(raw, noise)
        return z.sin().sum() + log_q.sum()

    assert torch.autograd.gradcheck(objective, (raw,))


def test_a_width_that_is_not_a_full_covariance_is_refused():
    with pytest.raises(ValueError, match="full-covariance"):
        FullCovariancePosterior().mean(torch.zeros(2, 6))


def _random_flow(d: int, seed: int) -> FlowPosterior:
    """A flow posterior with random (not identity) couplings."""
    torch.manual_seed(seed)
    posterior = FlowPosterior(d).double()
    with torch.no_grad():
        for coupling in posterior.couplings:
            coupling.net[-1].weight.normal_(0, 0.3)
            coupling.net[-1].bias.normal_(0, 0.3)
    return posterior


@pytest.mark.parametrize("d", [1, 2, 3])
def test_flow_log_density_of_its_draws_matches_the_inverse_pass(d):
    posterior = _random_flow(d, d)
    generator = torch.Generator().manual_seed(d)
    raw = torch.randn(6, posterior.raw_features(d), dtype=torch.float64, generator=generator) * 0.7
    noise = torch.randn(4, 6, d, dtype=torch.float64, generator=generator)
    draws, log_q = posterior.rsample(raw, noise)
    # The forward pass (ε → z with its log-det) and the inverse pass (z → ε) agree on log q.
    for k in range(4):
        torch.testing.assert_close(posterior.log_prob(raw, draws[k]), log_q[k])
    # The couplings really bend q away from a Gaussian.
    gaussian = FullCovariancePosterior().log_prob(raw[:, : -posterior.context], draws[0])
    assert (gaussian - log_q[0]).abs().max() > 1e-2


def test_flow_density_integrates_to_one_and_draws_follow_it():
    posterior = _random_flow(2, 0)
    generator = torch.Generator().manual_seed(0)
    raw = torch.randn(1, posterior.raw_features(2), dtype=torch.float64, generator=generator) * 0.5
    with torch.no_grad():
        edges = torch.linspace(-8, 8, 401, dtype=torch.float64)
        centres = (edges[1:] + edges[:-1]) / 2
        grid = torch.cartesian_prod(centres, centres)
        cell = float((edges[1] - edges[0]) ** 2)
        density = posterior.log_prob(raw.expand(len(grid), -1), grid).exp()
        assert abs(float(density.sum()) * cell - 1) < 2e-3
        # Probability of the quadrant z > mean by draws vs by the density on the grid.
        draws, _ = posterior.rsample(raw, torch.randn(100_000, 1, 2, dtype=torch.float64, generator=generator))
        centre = posterior.mean(raw)[0]
        by_draws = float(((draws[:, 0] > centre).all(dim=1)).double().mean())
        by_density = float(density[(grid > centre).all(dim=1)].sum()) * cell
        assert abs(by_draws - by_density) < 5 * math.sqrt(by_density * (1 - by_density) / 100_000) + 2e-3
