"""Masked autoregressive transforms (Papamakarios et al., 2017) with affine and spline kernels."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.flows import AffineKernel, MaskedAutoregressive, SplineKernel

SHAPES = [(1,), (2,), (5,), (3, 4, 4)]
KERNELS = {"affine": AffineKernel(log_scale_bound=2.0), "spline": SplineKernel(bins=5, bound=2.5)}


def layer(shape, kernel, reverse):
    torch.manual_seed(0)
    return MaskedAutoregressive(
        shape, KERNELS[kernel], hidden_features=24, hidden_layers=2, activation="tanh", reverse=reverse
    )


def inputs(shape, n=6, dtype=torch.float64, seed=1):
    return 2.0 * torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("reverse", [False, True])
def test_round_trip_with_random_parameters(shape, kernel, reverse, flowcheck):
    transform = flowcheck.randomize(layer(shape, kernel, reverse)).double()
    x = inputs(shape, n=64)
    z, _ = transform(x)
    assert not torch.allclose(z, x, atol=1e-3)
    flowcheck.assert_round_trip(transform, x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("reverse", [False, True])
def test_log_det_matches_autograd_jacobian(shape, kernel, reverse, flowcheck):
    transform = flowcheck.randomize(layer(shape, kernel, reverse)).double()
    flowcheck.assert_log_det_matches_autograd(transform, inputs(shape, n=2))


@pytest.mark.parametrize("reverse", [False, True])
def test_jacobian_is_triangular_in_the_order(reverse, flowcheck):
    transform = flowcheck.randomize(layer((5,), "spline", reverse)).double()
    x = 0.5 * inputs((5,), n=1)[0]
    jacobian = torch.autograd.functional.jacobian(lambda v: transform(v[None])[0][0], x)
    order = torch.arange(5).flip(0) if reverse else torch.arange(5)
    permuted = jacobian[order][:, order]
    assert torch.equal(torch.triu(permuted, diagonal=1), torch.zeros_like(permuted))
    assert torch.all(permuted[1:, 0] != 0), "every later output should depend on the first input"


def test_fresh_layer_is_the_identity():
    transform = MaskedAutoregressive((3, 4, 4), SplineKernel(bins=4)).double()
    x = inputs((3, 4, 4))
    z, log_det = transform(x)
    torch.testing.assert_close(z, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(log_det, torch.zeros(x.shape[0], dtype=x.dtype), atol=1e-12, rtol=0)
