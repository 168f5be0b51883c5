"""The projected energy statistics against the pairwise V-statistic (dcor), a closed form, and
the mean of many small draws."""

import math

import dcor
import numpy as np
import pytest
import torch
from scipy.special import i0e, i1e

from pushforward.metrics.projected_energy import (
    cramer_terms_1d,
    expected_energy_ratio,
    expected_ratio_with_error,
    mean_absolute_coordinate,
    projected_energy_terms,
    projection_directions,
)
from pushforward.metrics.two_sample import energy_distance, mean_within


def _pair(n: int, m: int, dimension: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dimension, generator=generator, dtype=torch.float64) * 1.2 + 0.3
    y = torch.rand(m, dimension, generator=generator, dtype=torch.float64) * 3.0 - 1.5
    return x, y


def test_one_dimensional_terms_are_exactly_the_pairwise_v_statistics():
    x, y = _pair(300, 450, 1, seed=0)
    distance, within_x, within_y = cramer_terms_1d(x[:, 0], y[:, 0])
    assert distance == pytest.approx(dcor.energy_distance(x.numpy(), y.numpy()), rel=1e-10)
    assert within_x == pytest.approx(mean_within(x), rel=1e-10)
    assert within_y == pytest.approx(mean_within(y), rel=1e-10)


@pytest.mark.parametrize("directions, tolerance", [(90, 1e-3), (720, 2e-5)])
def test_two_dimensional_terms_converge_to_the_pairwise_statistics_with_more_directions(directions, tolerance):
    x, y = _pair(400, 500, 2, seed=1)
    terms = projected_energy_terms(x, y, directions=directions)
    assert terms.distance_v == pytest.approx(energy_distance(x, y), rel=tolerance)
    assert terms.within_x * 399 / 400 == pytest.approx(mean_within(x), rel=tolerance)
    assert terms.within_y * 499 / 500 == pytest.approx(mean_within(y), rel=tolerance)


def test_random_directions_estimate_the_statistic_in_three_dimensions():
    x, y = _pair(400, 400, 3, seed=2)
    terms = projected_energy_terms(x, y, directions=4000, seed=3)
    # Monte Carlo over directions: about 1 % of the statistic with 4,000 of them.
    assert terms.distance_v == pytest.approx(energy_distance(x, y), rel=0.03)
    assert terms.within_x * 399 / 400 == pytest.approx(mean_within(x), rel=0.01)


def test_the_constant_is_two_over_pi_in_the_plane_and_one_on_the_line():
    assert mean_absolute_coordinate(2) == pytest.approx(2 / math.pi, rel=1e-12)
    assert mean_absolute_coordinate(1) == pytest.approx(1.0, rel=1e-12)
    samples = torch.randn(200_000, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert float((samples[:, 0] / samples.norm(dim=1)).abs().mean()) == pytest.approx(mean_absolute_coordinate(5), rel=0.01)
    assert torch.allclose(projection_directions(2, 8).norm(dim=1), torch.ones(8, dtype=torch.float64))


def _rice_mean(nu: float, scale: float) -> float:
    """E‖Z‖ for Z ~ N(μ, scale² I₂) with ‖μ‖ = nu: the mean of the Rice distribution."""
    x = -(nu**2) / (2 * scale**2)
    return scale * math.sqrt(math.pi / 2) * ((1 - x) * i0e(-x / 2) - x * i1e(-x / 2))


def test_population_distance_between_shifted_gaussians_matches_the_closed_form():
    # D = 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ with X − Y ~ N(μ, 2I) and X − X' ~ N(0, 2I).
    shift = 0.5
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(200_000, 2, generator=generator, dtype=torch.float64) + torch.tensor([shift, 0.0], dtype=torch.float64)
    y = torch.randn(200_000, 2, generator=generator, dtype=torch.float64)
    terms = projected_energy_terms(x, y, directions=30)
    exact = 2 * _rice_mean(shift, math.sqrt(2)) - 2 * _rice_mean(0.0, math.sqrt(2))
    # The estimate's sampling error at 200,000 points is about 1 % of D here.
    assert terms.distance == pytest.approx(exact, rel=0.05)
    assert terms.within_y == pytest.approx(math.sqrt(math.pi), rel=0.005)


def test_the_expected_ratio_is_what_many_small_draws_average_to():
    # Draws of n = 50 points: ratio of the mean distance (model vs data) to the mean floor.
    def model(count: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(count, 2, generator=generator, dtype=torch.float64) * torch.tensor([1.4, 0.8], dtype=torch.float64)

    def data(count: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(count, 2, generator=generator, dtype=torch.float64)

    generator = torch.Generator().manual_seed(6)
    n, draws = 50, 1500
    distances = [energy_distance(model(n, generator), data(n, generator)) for _ in range(draws)]
    floors = [energy_distance(data(n, generator), data(n, generator)) for _ in range(draws)]
    ratio = np.mean(distances) / np.mean(floors)
    ratio_se = ratio * math.hypot(np.std(distances) / np.mean(distances), np.std(floors) / np.mean(floors)) / math.sqrt(draws)
    terms = projected_energy_terms(model(200_000, generator), data(200_000, generator), directions=30)
    assert expected_energy_ratio(terms, n) == pytest.approx(ratio, abs=4 * ratio_se)
    assert expected_energy_ratio(terms, n) > 1.2  # the draws can tell this model from the data


def test_the_groups_error_covers_the_spread_of_independent_estimates():
    def estimate(seed: int):
        generator = torch.Generator().manual_seed(seed)
        model = torch.randn(20_000, 2, generator=generator, dtype=torch.float64) * torch.tensor([1.1, 1.0], dtype=torch.float64)
        return expected_ratio_with_error(model, torch.randn(40_000, 2, generator=generator, dtype=torch.float64), 1000, directions=16)

    estimates = [estimate(seed) for seed in range(8)]
    spread = float(np.std([e.ratio for e in estimates], ddof=1))
    typical_se = float(np.median([e.se for e in estimates]))
    # The groups' error is an estimate from 8 groups, so it may be off by about a factor 1.5.
    assert spread / 2 < typical_se < spread * 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        projection_directions(2, 0)
    x, y = _pair(10, 10, 2, seed=7)
    with pytest.raises(ValueError, match="at least 1"):
        expected_energy_ratio(projected_energy_terms(x, y), 0)
    with pytest.raises(ValueError, match="at least 2"):
        expected_ratio_with_error(x, y, 5, groups=1)
    with pytest.raises(ValueError, match="need at least 16 points"):
        expected_ratio_with_error(x, y, 5, groups=8)
