"""Random Fourier features: the definition, the kernel they induce, and their state."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.nn.fourier import FourierFeatures


def test_features_follow_the_definition_in_float64():
    torch.manual_seed(0)
    layer = FourierFeatures(3, 5, scale=2.0).double()
    v = torch.randn(4, 3, dtype=torch.float64)
    out = layer(v)
    assert out.shape == (4, 3 + 2 * 5) and layer.out_features == 13
    b = layer.frequencies
    for i in range(4):
        for k in range(5):
            phase = 2 * math.pi * sum(float(b[k, j]) * float(v[i, j]) for j in range(3))
            assert float(out[i, 3 + k]) == pytest.approx(math.cos(phase), abs=1e-12)
            assert float(out[i, 8 + k]) == pytest.approx(math.sin(phase), abs=1e-12)
    torch.testing.assert_close(out[:, :3], v)  # the raw input is kept


def test_feature_inner_products_approach_a_gaussian_kernel_of_bandwidth_1_over_2pi_scale():
    # Σ_k cos 2πb_k·u cos 2πb_k·v + sin · sin = Σ_k cos 2πb_k·(u − v): stationary, and with
    # b ~ N(0, s² I) its mean over k is E cos(2π b·δ) = exp(−2π² s² |δ|²) (Bochner / Rahimi–Recht).
    generator = torch.Generator().manual_seed(1)
    m, scale = 40_000, 0.5
    layer = FourierFeatures(2, m, scale, generator=generator).double()
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


def test_frequencies_are_a_saved_buffer_not_a_parameter():
    layer = FourierFeatures(2, 4, 1.0)
    assert list(layer.parameters()) == []
    assert "frequencies" in layer.state_dict()
    other = FourierFeatures(2, 4, 1.0)
    other.load_state_dict(layer.state_dict())
    v = torch.randn(3, 2)
    torch.testing.assert_close(other(v), layer(v))


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError):
        FourierFeatures(2, 0, 1.0)
    with pytest.raises(ValueError):
        FourierFeatures(2, 4, 0.0)
