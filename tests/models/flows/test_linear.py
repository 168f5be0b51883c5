"""LU-decomposed invertible linear maps (Kingma & Dhariwal, 2018) and fixed permutations."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.flows import LULinear, Permutation

SHAPES = [(2,), (5,), (3, 4, 4)]


def inputs(shape, n=4, seed=0):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape", SHAPES)
def test_lu_linear_round_trip_and_log_det(shape, flowcheck):
    layer = flowcheck.randomize(LULinear(shape[0], generator=torch.Generator().manual_seed(1)).double())
    x = inputs(shape)
    flowcheck.assert_round_trip(layer, x)
    flowcheck.assert_log_det_matches_autograd(layer, inputs(shape, n=2))


def test_lu_linear_starts_orthogonal_and_mixes_features():
    layer = LULinear(4, generator=torch.Generator().manual_seed(0))
    weight = layer.weight()
    torch.testing.assert_close(weight @ weight.T, torch.eye(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(layer.inverse_weight() @ weight, torch.eye(4), atol=1e-6, rtol=0)
    assert (weight.abs() > 1e-6).sum() > 4


def test_lu_linear_acts_on_the_feature_axis_like_a_1x1_convolution():
    layer = LULinear(3, generator=torch.Generator().manual_seed(0)).double()
    x = inputs((3, 4, 4))
    z, _ = layer(x)
    expected = torch.nn.functional.conv2d(x, layer.weight()[:, :, None, None])
    torch.testing.assert_close(z, expected)


def test_lu_linear_state_dict_restores_the_same_map():
    torch.manual_seed(0)
    first = LULinear(5)
    torch.manual_seed(1)
    second = LULinear(5)
    second.load_state_dict(first.state_dict())
    x = inputs((5,)).float()
    assert torch.equal(first(x)[0], second(x)[0])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["reverse", "random"])
def test_permutation_round_trip_and_zero_log_det(shape, kind, flowcheck):
    layer = Permutation.reverse(shape[0]) if kind == "reverse" else Permutation.random(shape[0], seed=3)
    x = inputs(shape)
    z, log_det = layer(x)
    assert torch.equal(log_det, torch.zeros(x.shape[0], dtype=x.dtype))
    assert torch.equal(z, x[:, layer.permutation])
    flowcheck.assert_round_trip(layer, x, atol=0.0)
    flowcheck.assert_log_det_matches_autograd(layer, inputs(shape, n=1))


def test_seeded_random_permutation_is_repeatable_and_invalid_ones_are_rejected():
    assert torch.equal(Permutation.random(7, seed=5).permutation, Permutation.random(7, seed=5).permutation)
    with pytest.raises(ValueError):
        Permutation(torch.tensor([0, 0, 1]))
