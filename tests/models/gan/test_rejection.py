"""Discriminator rejection sampling's kernel against hand-computed values and a known density ratio."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.errors import UserError
from pushforward.metrics.two_sample import energy_test
from pushforward.models.gan.rejection import Calibration, acceptance_probability, calibrate, candidate_bounds, rejection_sample


def test_acceptance_is_min_one_exp_logit_minus_log_bound():
    logits = torch.tensor([0.0, -1.0, 1.0, math.log(0.25) + 2.0, -50.0])
    expected = torch.tensor([math.exp(-2.0), math.exp(-3.0), math.exp(-1.0), 0.25, math.exp(-52.0)], dtype=torch.float64)
    got = acceptance_probability(logits, 2.0)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0.0)
    # at or above the bound a proposal is always kept
    assert acceptance_probability(torch.tensor([2.0, 7.0]), 2.0).tolist() == [1.0, 1.0]


def test_calibration_takes_the_largest_burn_in_logit_or_the_given_bound():
    logits = torch.tensor([-1.0, 0.5, -3.0, 0.0])
    exact = calibrate(logits)
    assert exact.log_bound == 0.5
    assert exact.acceptance_rate == pytest.approx((math.exp(-1.5) + 1 + math.exp(-3.5) + math.exp(-0.5)) / 4)
    fixed = calibrate(logits, log_bound=-1.0)
    assert fixed.log_bound == -1.0 and fixed.acceptance_rate == pytest.approx((1 + 1 + math.exp(-2.0) + 1) / 4)
    with pytest.raises(UserError, match="not finite"):
        calibrate(torch.tensor([0.0, math.nan]))


def _normal_log_density(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


def test_exact_log_ratio_turns_the_proposal_into_the_target():
    """Proposal N(0, 2²), target N(0.5, 1): log p/q is bounded (the target is narrower), so
    rejection sampling with the exact log-ratio as the "logit" and M = its maximum is exact."""
    generator = torch.Generator().manual_seed(0)

    def log_ratio(x: torch.Tensor) -> torch.Tensor:
        return (_normal_log_density(x, 0.5, 1.0) - _normal_log_density(x, 0.0, 2.0)).squeeze(-1)

    def propose(m: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = 2.0 * torch.randn(m, 1, generator=generator, dtype=torch.float64)
        return x, log_ratio(x)

    burn_in, _ = propose(10_000)
    calibration = calibrate(log_ratio(burn_in))
    accepted = rejection_sample(propose, 800, calibration, generator=generator)
    assert accepted.shape == (800, 1)
    target = 0.5 + torch.randn(800, 1, generator=generator, dtype=torch.float64)
    raw, _ = propose(800)
    assert energy_test(accepted, target, permutations=200).p_value > 0.05
    assert energy_test(raw, target, permutations=200).p_value < 0.01
    # the acceptance rate of exact rejection sampling is 1/M
    true_max = max(float(log_ratio(torch.linspace(-5, 5, 100_001, dtype=torch.float64).unsqueeze(-1)).max()), calibration.log_bound)
    assert calibration.acceptance_rate == pytest.approx(math.exp(-true_max), rel=0.05)


def test_a_bound_below_the_maximum_clips_the_proposal_at_p_over_m():
    """With log M below the ratio's maximum the output density is min(q, p/M)/Z: on a 1-D grid
    of bins, the accepted histogram follows it."""
    generator = torch.Generator().manual_seed(1)

    def propose(m: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(m, 1, generator=generator, dtype=torch.float64)
        return x, (_normal_log_density(x, 0.0, 0.5) - _normal_log_density(x, 0.0, 1.0)).squeeze(-1)

    log_bound = 0.0  # p/q peaks at 2 at x = 0: the centre is clipped to q, the tails to p
    accepted = rejection_sample(propose, 40_000, Calibration(log_bound, 0.5), generator=generator).squeeze(-1)
    grid = torch.linspace(-3, 3, 60_001, dtype=torch.float64)
    density = torch.minimum(_normal_log_density(grid, 0, 1).exp(), _normal_log_density(grid, 0, 0.5).exp() / math.exp(log_bound))
    inner = float(density[(grid.abs() <= 0.5)].sum() / density.sum())
    assert float((accepted.abs() <= 0.5).double().mean()) == pytest.approx(inner, abs=0.01)


def test_a_collapsed_acceptance_rate_is_a_user_error_not_an_endless_loop():
    def propose(m: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(m, 2), torch.full((m,), -20.0)

    with pytest.raises(UserError, match="accept only"):
        rejection_sample(propose, 10, Calibration(0.0, 1e-9))
    # a calibration that promised more than the proposals give: the proposal cap stops it
    with pytest.raises(UserError, match="short of"):
        rejection_sample(propose, 10, Calibration(0.0, 0.5), min_acceptance=0.01)


def test_candidate_bounds_add_the_exact_bound_and_drop_those_that_accept_too_little():
    logits = torch.linspace(-6.0, 2.0, 1001)
    # acceptance at bound b: mean of min(1, exp(logit − b)); at the exact bound 2 it is ≈ 0.125
    assert candidate_bounds(logits, [-3.5, 0.0, None, 0.0], min_acceptance=0.01) == [-3.5, 0.0, 2.0]
    rates = {b: calibrate(logits, b).acceptance_rate for b in (-3.5, 0.0, 2.0)}
    assert rates[-3.5] > rates[0.0] > rates[2.0] > 0.1
    assert candidate_bounds(logits, [-3.5, 0.0], min_acceptance=0.2) == [-3.5, 0.0]
    # none usable: the lowest is kept, so the sampler reports the low acceptance itself
    assert candidate_bounds(logits, [1.0], min_acceptance=0.99) == [1.0]
