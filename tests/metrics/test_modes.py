"""Mode coverage (VEEGAN / PacGAN protocol) against samples with known answers."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

from pushforward.data import get_toy
from pushforward.errors import UserError
from pushforward.metrics.modes import mode_coverage, true_high_quality_fraction


@pytest.mark.parametrize("name", ["25gaussians", "8gaussians"])
def test_samples_of_the_true_mixture_hit_every_mode_with_the_chi_square_quality(name):
    toy = get_toy(name)
    n = 20_000
    result = mode_coverage(toy.sample(n, seed=0), toy.modes, toy.mode_std)
    k = toy.modes.shape[0]
    assert result.modes_captured == result.modes_total == k
    # 3σ in 2-D: P(χ²₂ ≤ 9) = 1 − e^{−4.5} ≈ 98.89 %, not the 1-D 99.73 %
    expected = 1 - math.exp(-4.5)
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(result.high_quality_fraction - expected) < 4 * se
    # KL of a multinomial histogram from uniform: about (K − 1) / 2n on average
    assert result.mode_kl < 10 * (k - 1) / (2 * n)


def test_protocol_size_sample_of_the_grid():
    toy = get_toy("25gaussians")
    result = mode_coverage(toy.sample(2500, seed=1), toy.modes, toy.mode_std)
    assert result.modes_captured == 25 and result.high_quality_fraction > 0.975 and result.mode_kl < 0.02


def test_collapse_to_one_mode_and_to_two():
    toy = get_toy("25gaussians")
    one = mode_coverage(toy.modes[3].repeat(100, 1), toy.modes, toy.mode_std)
    assert (one.modes_captured, one.high_quality_fraction) == (1, 1.0)
    assert one.mode_kl == pytest.approx(math.log(25), abs=1e-12)
    assert one.counts[3] == 100 and sum(one.counts) == 100
    two = mode_coverage(torch.cat([toy.modes[0].repeat(30, 1), toy.modes[7].repeat(30, 1)]), toy.modes, toy.mode_std)
    assert two.modes_captured == 2 and two.mode_kl == pytest.approx(math.log(25 / 2), abs=1e-12)


def test_points_between_modes_are_low_quality_and_do_not_count():
    toy = get_toy("25gaussians")
    std = toy.mode_std
    samples = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0 + 2.9 * std, 2.0], [2.0 + 3.1 * std, 2.0], [float("nan"), 0.0]])
    result = mode_coverage(samples, toy.modes, std)
    assert result.high_quality_fraction == pytest.approx(2 / 5)
    assert result.modes_captured == 2
    nothing = mode_coverage(torch.full((10, 2), 1.0), toy.modes, std)
    assert nothing.modes_captured == 0 and nothing.high_quality_fraction == 0 and math.isnan(nothing.mode_kl)


@pytest.mark.parametrize("dimension", [1, 2, 3, 10])
def test_true_high_quality_fraction_is_the_chi_distribution(dimension):
    assert true_high_quality_fraction(dimension) == pytest.approx(scipy.stats.chi2.cdf(9.0, dimension), rel=1e-12)


def test_shape_mismatch_is_a_user_error():
    with pytest.raises(UserError):
        mode_coverage(torch.zeros(4, 3), torch.zeros(2, 2), 0.1)
