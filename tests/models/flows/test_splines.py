"""Rational-quadratic spline kernel (Durkan et al., 2019): exactness, invertibility and safety."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.flows.kernels import rational_quadratic_spline
from pushforward.models.flows.kernels.splines import _knots

BOUND = 3.0
BINS = 6
DTYPES = [torch.float32, torch.float64]


def params(shape, dtype, scale=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    make = lambda k: (scale * torch.randn(*shape, k, generator=generator, dtype=torch.float64)).to(dtype)  # noqa: E731
    return make(BINS), make(BINS), make(BINS - 1)


def spline(x, w, h, d, inverse=False):
    return rational_quadratic_spline(x, w, h, d, bound=BOUND, inverse=inverse)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_parameters_are_the_identity(dtype):
    x = torch.linspace(-2 * BOUND, 2 * BOUND, 101, dtype=dtype)
    zeros = lambda k: torch.zeros(101, k, dtype=dtype)  # noqa: E731
    for inverse in (False, True):
        y, logabsdet = spline(x, zeros(BINS), zeros(BINS), zeros(BINS - 1), inverse=inverse)
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(y, x, atol=tol, rtol=0)
        torch.testing.assert_close(logabsdet, torch.zeros_like(x), atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inverse_undoes_forward(dtype):
    eps = torch.finfo(dtype).eps
    x = torch.linspace(-1.5 * BOUND, 1.5 * BOUND, 1000, dtype=dtype)
    w, h, d = params((1000,), dtype, scale=2.0)
    y, forward_lad = spline(x, w, h, d)
    back, inverse_lad = spline(y, w, h, d, inverse=True)
    # Round-off in y is amplified by dx/dy = exp(-log|dy/dx|) on the way back, so the bound on
    # the error in x follows the map's conditioning (a wrong bin would be off by O(0.1)).
    allowed = 64 * eps * (1 + BOUND) * torch.exp(-forward_lad).clamp(min=1.0)
    assert torch.all((back - x).abs() <= allowed)
    # From the other side the map is well conditioned: forward(inverse(y)) == y to round-off.
    again, _ = spline(back, w, h, d)
    torch.testing.assert_close(again, y, atol=16 * eps * (1 + BOUND), rtol=0)
    if dtype == torch.float64:
        torch.testing.assert_close(back, x, atol=1e-9, rtol=0)
        torch.testing.assert_close(inverse_lad, -forward_lad, atol=1e-9, rtol=0)
    assert not torch.allclose(y, x, atol=1e-2), "random parameters should give a non-trivial map"


def test_log_derivative_matches_autograd():
    x = torch.linspace(-1.2 * BOUND, 1.2 * BOUND, 500, dtype=torch.float64, requires_grad=True)
    w, h, d = params((500,), torch.float64, scale=2.0)
    for inverse in (False, True):
        y, logabsdet = spline(x, w, h, d, inverse=inverse)
        (derivative,) = torch.autograd.grad(y.sum(), x)
        torch.testing.assert_close(logabsdet, derivative.log(), atol=1e-10, rtol=1e-10)


def test_map_is_increasing_onto_the_interval_and_identity_outside():
    x = torch.linspace(-BOUND, BOUND, 2001, dtype=torch.float64)
    w, h, d = (p.expand(2001, -1) for p in params((1,), torch.float64, scale=3.0))
    y, _ = spline(x, w, h, d)
    assert torch.all(torch.diff(y) > 0)
    assert y[0].item() == -BOUND and y[-1].item() == BOUND
    outside = torch.tensor([-1e6, -BOUND - 1e-9, -10.0, BOUND + 1e-9, 7.5, 1e6], dtype=torch.float64)
    ww, hh, dd = (p[:6] for p in (w, h, d))
    for inverse in (False, True):
        y, logabsdet = spline(outside, ww, hh, dd, inverse=inverse)
        assert torch.equal(y, outside)
        assert torch.equal(logabsdet, torch.zeros_like(outside))


def special_points(w, h, dtype):
    """Far outside, exactly at ±bound, zero, and exactly at every knot of the input grid."""
    knots_x = _knots(w, BOUND, 1e-3)[0]
    knots_y = _knots(h, BOUND, 1e-3)[0]
    huge = torch.finfo(dtype).max
    fixed = torch.tensor([-1e6, 1e6, -huge, huge, -BOUND, BOUND, 0.0], dtype=dtype)
    return torch.cat([fixed, knots_x]), torch.cat([fixed, knots_y])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_values_and_gradients_are_finite_at_edges_and_far_away(dtype, scale):
    w1, h1, d1 = params((1,), dtype, scale=scale, seed=3)
    forward_points, inverse_points = special_points(w1, h1, dtype)
    for inverse, points in ((False, forward_points), (True, inverse_points)):
        n = points.numel()
        x = points.clone().requires_grad_(True)
        w, h, d = (p.expand(n, -1).clone().requires_grad_(True) for p in (w1, h1, d1))
        y, logabsdet = spline(x, w, h, d, inverse=inverse)
        assert torch.isfinite(y).all() and torch.isfinite(logabsdet).all()
        gradients = torch.autograd.grad((y + logabsdet).sum(), (x, w, h, d))
        for gradient in gradients:
            assert torch.isfinite(gradient).all()
        # At the knots the map hits the other grid's knots: edges map to edges.
        if not inverse:
            tol = 1e-4 if dtype == torch.float32 else 1e-10
            torch.testing.assert_close(y[7:], inverse_points[7:], atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inverse_is_finite_just_below_every_knot_with_extreme_parameters(dtype):
    # Just below a knot (ξ → 1) with a small end derivative, the textbook discriminant b² - 4ac
    # cancels to zero or below in float32 and its square root's gradient blows up.
    n = 4000
    generator = torch.Generator().manual_seed(5)
    w, h, d = (20.0 * torch.randn(n, k, generator=generator, dtype=torch.float64) for k in (BINS, BINS, BINS - 1))
    w, h, d = (p.to(dtype).requires_grad_(True) for p in (w, h, d))
    knots_y = _knots(h, BOUND, 1e-3).detach()
    column = torch.randint(1, BINS + 1, (n, 1), generator=generator)
    at_knot = knots_y.gather(-1, column).squeeze(-1)
    below = torch.nextafter(at_knot, torch.full_like(at_knot, -torch.inf))
    for points in (at_knot, below):
        y = points.clone().requires_grad_(True)
        x, logabsdet = spline(y, w, h, d, inverse=True)
        assert torch.isfinite(x).all() and torch.isfinite(logabsdet).all()
        gradients = torch.autograd.grad((x + logabsdet).sum(), (y, w, h, d))
        for gradient in gradients:
            assert torch.isfinite(gradient).all()
        # Mapping back forward recovers y, up to round-off in x amplified by dy/dx.
        again, _ = spline(x.detach(), w.detach(), h.detach(), d.detach())
        allowed = 16 * torch.finfo(dtype).eps * (1 + BOUND) * torch.exp(-logabsdet.detach()).clamp(min=1.0)
        assert torch.all((again - points).abs() <= allowed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parameters_broadcast_over_positions(dtype):
    x = torch.randn(7, 4, 5, dtype=dtype)
    w, h, d = params((4, 1), dtype, scale=1.5)
    y, logabsdet = spline(x, w, h, d)
    expanded = [p.expand(7, 4, 5, -1) for p in (w, h, d)]
    y2, logabsdet2 = spline(x, *expanded)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(logabsdet, logabsdet2)
    assert y.shape == logabsdet.shape == x.shape


def test_bad_shapes_and_settings_are_rejected():
    x = torch.zeros(3)
    with pytest.raises(ValueError):
        rational_quadratic_spline(x, torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(3, 4), bound=1.0)
    with pytest.raises(ValueError):
        rational_quadratic_spline(
            x, torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(3, 3), bound=1.0, min_bin_width=0.3
        )
    with pytest.raises(ValueError):
        rational_quadratic_spline(x, torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(3, 3), bound=0.0)
