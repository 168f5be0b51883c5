"""Monotonic rational-quadratic splines.

Durkan, Bekasov, Murray, Papamakarios, "Neural Spline Flows", NeurIPS 2019 (arXiv:1906.04032).
Following Gregory & Delbourgo (1982), each of K bins maps by a ratio of quadratics fixed by its
end knots and the derivatives there. The spline maps [-bound, bound] onto itself and is the
identity outside, with derivative 1 at ±bound so the map is C¹ everywhere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _knots(unnormalized: Tensor, bound: float, min_size: float) -> Tensor:
    """K+1 increasing knot positions from -bound to bound; every bin is at least ``min_size`` (a fraction) wide.

    Bin i has size ``min_size + (1 - K·min_size)·softmax_i``, so knot i is a constant (the
    minimum sizes so far, and the ends ±bound) plus a multiple of a cumulative softmax. Writing
    it that way costs one fused add per table, and the end knots are exactly ±bound: inputs at
    ±bound fall inside the spline and the identity tails join without a gap.
    """
    bins = unnormalized.shape[-1]
    # A cumulative softmax by hand: torch.softmax over a last axis of a few bins is ~3x slower on
    # CPU than exp + cumsum, and the cumsum's last entry is the normaliser for free. Shifting by
    # the (detached: the result does not depend on it) maximum keeps exp from overflowing.
    shifted = unnormalized - unnormalized.detach().amax(dim=-1, keepdim=True)
    cumulative = torch.cumsum(torch.exp(shifted), dim=-1)
    fractions = cumulative[..., :-1] / cumulative[..., -1:]
    base = torch.arange(bins + 1, dtype=fractions.dtype, device=fractions.device) * (2.0 * bound * min_size) - bound
    base[-1] = bound
    return torch.add(base, F.pad(fractions, (1, 1)), alpha=2.0 * bound * (1.0 - min_size * bins))


def _derivatives(unnormalized: Tensor, min_derivative: float) -> Tensor:
    """Derivatives at all K+1 knots: interior ones from ``unnormalized`` (zero → 1), ends fixed at 1."""
    # The offset makes softplus(0 + offset) = 1 - min_derivative, so zero parameters give slope 1.
    offset = math.log(math.expm1(1.0 - min_derivative))
    interior = min_derivative + F.softplus(unnormalized + offset)
    return F.pad(interior, (1, 1), value=1.0)


def rational_quadratic_spline(
    x: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_derivatives: Tensor,
    *,
    bound: float,
    inverse: bool = False,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[Tensor, Tensor]:
    """Apply the spline (or its inverse) element-wise; return ``(y, log|dy/dx|)``, both shaped like ``x``.

    Shapes: ``x (...)``, widths and heights ``(..., K)``, derivatives ``(..., K-1)`` at the
    interior knots; leading dimensions broadcast against ``x``. All-zero parameters give
    uniform bins and unit slopes, i.e. the identity.

    Safe at any input: the spline branch is evaluated on inputs clamped into the interval, so
    ``torch.where`` never mixes in a non-finite value or gradient from an input at ±1e6; the
    inverse uses the cancellation-free root ``2c / (-b - sqrt(b² - 4ac))`` with the
    discriminant in a form that is positive by construction.
    """
    bins = unnormalized_widths.shape[-1]
    if unnormalized_heights.shape[-1] != bins or unnormalized_derivatives.shape[-1] != bins - 1:
        raise ValueError(
            f"expected widths and heights with K entries and derivatives with K-1, got "
            f"{unnormalized_widths.shape[-1]}, {unnormalized_heights.shape[-1]}, {unnormalized_derivatives.shape[-1]}"
        )
    if min_bin_width * bins >= 1.0 or min_bin_height * bins >= 1.0:
        raise ValueError(f"min_bin_width and min_bin_height must be below 1/K = {1.0 / bins}")
    if bound <= 0:
        raise ValueError(f"bound must be positive, not {bound}")

    knots_x = _knots(unnormalized_widths, bound, min_bin_width)
    knots_y = _knots(unnormalized_heights, bound, min_bin_height)
    derivatives = _derivatives(unnormalized_derivatives, min_derivative)

    inside = (x >= -bound) & (x <= bound)
    clamped = x.clamp(-bound, bound)

    # Bin index = number of interior knots at or below the input, in [0, K-1] by construction (a
    # NaN input counts 0), so no clamp is needed. Comparing against the K-1 knots broadcasts freely
    # and needs no contiguous copy, unlike torch.searchsorted.
    search = knots_y if inverse else knots_x
    index = (clamped[..., None] >= search[..., 1:-1]).sum(dim=-1, keepdim=True)

    # One gather per table for both ends of the bin; the tables are broadcast to the index's
    # batch shape as views so shared parameters cost no copy.
    batch = index.shape[:-1]
    ends = torch.cat((index, index + 1), dim=-1)
    x0, x1 = knots_x.expand(*batch, bins + 1).gather(-1, ends).unbind(-1)
    y0, y1 = knots_y.expand(*batch, bins + 1).gather(-1, ends).unbind(-1)
    d0, d1 = derivatives.expand(*batch, bins + 1).gather(-1, ends).unbind(-1)

    width = x1 - x0
    height = y1 - y0
    slope = height / width
    curvature = d0 + d1 - 2.0 * slope

    if inverse:
        # Solving for θ gives a quadratic; its root 2c / (-b - √disc), with the height divided out
        # and ξ = (y - y0) / height, is θ = rise / (rise + tilt + root) where
        #   rise = 2·slope·ξ,  tilt = d0(1-ξ) - d1·ξ,  root = √(tilt² + 4·slope²·ξ(1-ξ)).
        # The discriminant in this form is a sum of non-negative terms, at least min(d0, d1)² > 0,
        # whereas the textbook b² - 4ac cancels to zero or below as ξ → 1. When tilt < 0 the sum
        # tilt + root cancels too (a flat bin next to a steep knot), so there it is taken in the
        # conjugate form 4·slope²·ξ(1-ξ) / (root - tilt). Every piece is then non-negative.
        xi = (clamped - y0) / height
        spread = (xi * (1.0 - xi)).clamp(min=0.0)  # ξ leaves [0, 1] only by round-off
        tilt = d0 * (1.0 - xi) - d1 * xi
        curve = 4.0 * slope.square() * spread
        root = torch.sqrt(tilt.square() + curve)
        # root + |tilt| >= root > 0, so the branch torch.where drops never divides by zero.
        gap = torch.where(tilt >= 0, tilt + root, curve / (root + tilt.abs()))
        rise = 2.0 * slope * xi
        theta = rise / (rise + gap)
        spline = x0 + theta * width
    else:
        theta = (clamped - x0) / width

    one_minus = 1.0 - theta
    mixed = theta * one_minus
    denominator = slope + curvature * mixed
    numerator_derivative = slope.square() * (d1 * theta.square() + 2.0 * slope * mixed + d0 * one_minus.square())
    logabsdet = torch.log(numerator_derivative) - 2.0 * torch.log(denominator)

    if inverse:
        logabsdet = -logabsdet
    else:
        spline = y0 + height * (slope * theta.square() + d0 * mixed) / denominator

    y = torch.where(inside, spline, x)
    logabsdet = torch.where(inside, logabsdet, torch.zeros((), dtype=logabsdet.dtype, device=logabsdet.device))
    return y, logabsdet
