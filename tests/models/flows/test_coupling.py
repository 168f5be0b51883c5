"""Coupling layers (Dinh et al., 2017; Durkan et al., 2019) on vectors and images."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.flows import AffineKernel, Coupling, SplineKernel, mlp_conditioner

SHAPES = [(1,), (2,), (5,), (3, 4, 4)]
KERNELS = {"affine": AffineKernel(log_scale_bound=2.0), "spline": SplineKernel(bins=5, bound=2.5)}


def layer(shape, kernel, parity):
    torch.manual_seed(0)
    conditioner = mlp_conditioner(hidden_features=16, hidden_layers=2, activation="tanh")
    return Coupling(shape, KERNELS[kernel], parity=parity, conditioner=conditioner)


def inputs(shape, n=6, dtype=torch.float64, seed=1):
    # Scale 2 puts some spline inputs outside ±bound, exercising the identity tails too.
    return 2.0 * torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("parity", [0, 1])
def test_round_trip_with_random_parameters(shape, kernel, parity, flowcheck):
    transform = flowcheck.randomize(layer(shape, kernel, parity)).double()
    x = inputs(shape, n=64)
    z, _ = transform(x)
    assert not torch.allclose(z, x, atol=1e-3), "randomised layer should not be the identity"
    flowcheck.assert_round_trip(transform, x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("parity", [0, 1])
def test_log_det_matches_autograd_jacobian(shape, kernel, parity, flowcheck):
    transform = flowcheck.randomize(layer(shape, kernel, parity)).double()
    flowcheck.assert_log_det_matches_autograd(transform, inputs(shape, n=2))


@pytest.mark.parametrize("kernel", KERNELS)
def test_fresh_layer_is_the_identity(kernel):
    torch.manual_seed(0)
    transform = Coupling((3, 4, 4), KERNELS[kernel], parity=1).double()
    x = inputs((3, 4, 4))
    z, log_det = transform(x)
    torch.testing.assert_close(z, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(log_det, torch.zeros(x.shape[0], dtype=x.dtype), atol=1e-12, rtol=0)


@pytest.mark.parametrize("parity", [0, 1])
def test_kept_half_passes_through_and_parities_alternate(parity, flowcheck):
    transform = flowcheck.randomize(layer((5,), "affine", parity))
    x = inputs((5,), dtype=torch.float32)
    z, _ = transform(x)
    kept = [0, 1] if parity == 0 else [2, 3, 4]
    changed = [2, 3, 4] if parity == 0 else [0, 1]
    assert torch.equal(z[:, kept], x[:, kept])
    assert not torch.allclose(z[:, changed], x[:, changed], atol=1e-3)


def test_conditioner_factory_gets_the_kept_and_parameter_shapes():
    seen = []

    def factory(in_shape, out_shape):
        seen.append((in_shape, out_shape))
        return mlp_conditioner(8, 1)(in_shape, out_shape)

    Coupling((3, 4, 4), SplineKernel(bins=4), parity=0, conditioner=factory)
    Coupling((3, 4, 4), AffineKernel(), parity=1, conditioner=factory)
    assert seen == [((1, 4, 4), (2 * 11, 4, 4)), ((2, 4, 4), (1 * 2, 4, 4))]


def test_one_feature_uses_learned_unconditional_parameters(flowcheck):
    transform = flowcheck.randomize(layer((1,), "spline", 0))
    assert sum(p.numel() for p in transform.parameters()) == KERNELS["spline"].params
    x = inputs((1,), n=64, dtype=torch.float32)
    z, log_det = transform(x)
    # The same parameters for every row: one increasing function of x.
    order = torch.argsort(x[:, 0])
    assert torch.all(torch.diff(z[order, 0]) > 0)
    assert log_det.shape == (x.shape[0],)
