"""Element-wise affine kernel and the soft clamp of its log-scale."""

from __future__ import annotations

import torch

from pushforward.models.flows.kernels import affine, soft_clamp


def test_affine_round_trip_and_log_derivative():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    shift = torch.randn(50, 3, dtype=torch.float64, generator=generator)
    log_scale = torch.randn(50, 3, dtype=torch.float64, generator=generator)
    y, logabsdet = affine(x, shift, log_scale)
    (derivative,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(logabsdet, derivative.log())
    back, inverse_lad = affine(y, shift, log_scale, inverse=True)
    torch.testing.assert_close(back, x)
    torch.testing.assert_close(inverse_lad, -logabsdet)


def test_affine_log_det_has_the_shape_of_the_input_when_parameters_broadcast():
    x = torch.randn(4, 3, 5)
    y, logabsdet = affine(x, torch.zeros(3, 1), torch.full((3, 1), 0.5))
    assert y.shape == logabsdet.shape == x.shape
    assert torch.all(logabsdet == 0.5)


def test_soft_clamp_is_bounded_and_near_identity_close_to_zero():
    values = torch.tensor([-1e6, -10.0, -1e-3, 0.0, 1e-3, 10.0, 1e6])
    clamped = soft_clamp(values, 2.0)
    assert torch.all(clamped.abs() <= 2.0)
    assert torch.all(torch.diff(clamped) >= 0)
    torch.testing.assert_close(clamped[2:5], values[2:5], atol=1e-8, rtol=1e-5)
