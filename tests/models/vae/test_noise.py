"""The posterior draws' noise: independent, or in antithetic pairs."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.vae.noise import posterior_noise


def test_independent_noise_is_the_generators_standard_normal_draws():
    noise = posterior_noise(3, 5, 2, torch.Generator().manual_seed(7))
    assert torch.equal(noise, torch.randn((3, 5, 2), generator=torch.Generator().manual_seed(7)))


def test_antithetic_noise_pairs_each_draw_with_its_negation():
    noise = posterior_noise(4, 5, 2, torch.Generator().manual_seed(7), antithetic=True)
    assert noise.shape == (4, 5, 2)
    assert torch.equal(noise[2:], -noise[:2])
    assert not torch.equal(noise[0], noise[1])  # the pairs differ from each other


def test_every_antithetic_draw_is_standard_normal():
    # Each draw's marginal is N(0, I), so averages over draws keep their expectation.
    noise = posterior_noise(2, 200_000, 1, torch.Generator().manual_seed(0), dtype=torch.float64, antithetic=True)
    for draw in noise:
        standard_error = 1 / 200_000**0.5
        assert abs(float(draw.mean())) < 4 * standard_error
        assert abs(float(draw.var()) - 1) < 4 * 2**0.5 * standard_error
        # A normal's fourth moment (3), not merely its first two.
        assert abs(float(draw.pow(4).mean()) - 3) < 4 * 96**0.5 * standard_error


def test_an_odd_number_of_antithetic_draws_is_refused():
    with pytest.raises(ValueError, match="must be even"):
        posterior_noise(3, 5, 2, antithetic=True)
