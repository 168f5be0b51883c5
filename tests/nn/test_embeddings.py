"""Embeddings: the sinusoidal noise-level embedding, the Fourier time features and the random
Fourier features of space."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.nn.embeddings import FourierFeatures, FourierTime, SinusoidalEmbedding, sinusoidal_embedding


def test_sinusoidal_embedding_values():
    t = torch.tensor([0.0, 0.25], dtype=torch.float64)
    features = sinusoidal_embedding(t, 6, max_period=100.0, scale=2.0)
    frequencies = 100.0 ** (-torch.arange(3, dtype=torch.float64) / 3)
    expected = torch.cat([torch.sin(2.0 * t[:, None] * frequencies), torch.cos(2.0 * t[:, None] * frequencies)], dim=1)
    torch.testing.assert_close(features, expected)
    assert features[0, :3].abs().max() == 0 and (features[0, 3:] == 1).all()


def test_odd_width_and_module_form():
    module = SinusoidalEmbedding(7)
    out = module(torch.linspace(0, 1, 5))
    assert out.shape == (5, 7) and (out[:, -1] == 0).all()
    # A 0-d time (one for the whole batch) gives one row.
    assert module(torch.tensor(0.3)).shape == (1, 7)
    assert torch.cdist(out, out).fill_diagonal_(1.0).min() > 1e-3




def test_fourier_features_are_the_sinusoids_of_a_seeded_gaussian_projection():
    x = torch.randn(7, 3, dtype=torch.float64)
    embed = FourierFeatures(3, features=5, scale=0.5, seed=1).double()
    projection = 2 * math.pi * 0.5 * torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    angles = x @ projection.double().T
    torch.testing.assert_close(embed(x), torch.cat([x, angles.sin(), angles.cos()], dim=1))
    assert embed.features == 3 + 2 * 5
    # The projection is a saved buffer: a model reloaded from its weights sees the same features.
    assert "projection" in embed.state_dict()


def test_fourier_features_scale_sets_the_bandwidth():
    # The projection's entries have standard deviation 2π · scale.
    embed = FourierFeatures(2, features=20_000, scale=0.5)
    assert embed.projection.std().item() == pytest.approx(2 * math.pi * 0.5, rel=0.02)


def test_no_fourier_features_is_the_identity_and_bad_settings_fail():
    x = torch.randn(4, 2)
    assert FourierFeatures(2).features == 2
    assert torch.equal(FourierFeatures(2)(x), x)
    with pytest.raises(ValueError):
        FourierFeatures(2, features=4, scale=0.0)


def test_fourier_time_shares_a_scalar_time_across_the_batch():
    embed = FourierTime(2)
    shared, per_sample = embed(torch.tensor(0.3), 4), embed(torch.full((4,), 0.3), 4)
    torch.testing.assert_close(shared, per_sample)
    assert shared.shape == (4, embed.features)


def test_feature_inner_products_approach_a_gaussian_kernel_of_bandwidth_1_over_2pi_scale():
    # Σ_k cos 2πb_k·u cos 2πb_k·v + sin · sin = Σ_k cos 2πb_k·(u − v): stationary, and with
    # b ~ N(0, s² I) its mean over k is E cos(2π b·δ) = exp(−2π² s² |δ|²) (Bochner / Rahimi–Recht).
    m, scale = 40_000, 0.5
    layer = FourierFeatures(2, m, scale, seed=1).double()
    u = torch.tensor([[0.1, -0.2], [1.0, 2.0]], dtype=torch.float64)
    for delta in ([0.0, 0.0], [0.1, 0.0], [0.2, -0.1], [0.5, 0.3]):
        d = torch.tensor(delta, dtype=torch.float64)
        fu, fv = layer(u)[:, 2:], layer(u + d)[:, 2:]
        kernel = (fu * fv).sum(dim=1) / m
        expected = math.exp(-2 * math.pi**2 * scale**2 * float(d.square().sum()))
        # one cos term has variance ≤ 1/2, so the mean of m has sd ≤ 0.0036: 0.02 is > 5 sd
        assert float(kernel[0]) == pytest.approx(expected, abs=0.02)
        # stationarity: the same shift from another point gives the same value (up to rounding)
        assert float(kernel[1]) == pytest.approx(float(kernel[0]), abs=1e-9)


def test_fourier_features_saved_without_an_empty_projection_load_as_the_identity():
    empty = FourierFeatures(3, 0)
    empty.load_state_dict({})  # an older network that had no features module at all
    x = torch.randn(5, 3)
    torch.testing.assert_close(empty(x), x, atol=0, rtol=0)
    with pytest.raises(RuntimeError):  # a module that does add features still needs them
        FourierFeatures(3, 4).load_state_dict({})
