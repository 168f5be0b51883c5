"""The energy distance of large samples through one-dimensional projections, and the energy ratio
it implies at a smaller sample size.

Two identities make the energy distance of millions of points cheap:

* in one dimension, 2E|U−V| − E|U−U'| − E|V−V'| = 2∫(F − G)² dt, twice Cramér's distance
  (Székely & Rizzo, "Energy statistics: A class of statistics based on distances", Journal of
  Statistical Planning and Inference, 2013), and E|U−U'| = 2∫F(1 − F) dt. For the empirical
  CDFs of two samples these integrals equal the V-statistics exactly, and a sort computes them;
* ‖v‖ = E_θ|θ·v| / E|θ₁| for θ uniform on the unit sphere (the norm is invariant under
  rotations), so every term of the d-dimensional statistic is the average over directions of
  the same term of the projections, divided by E|θ₁| (2/π in 2-D).

In 2-D the average over directions is taken by the midpoint rule on the half circle (the terms are
even in θ): 90 directions reproduce the pairwise V-statistic to about 2e-4 of its value and 360 to
1e-5. In more dimensions directions are drawn at random (seeded), which adds Monte Carlo error.

Why: the energy ratio of 10,000 samples to the noise floor is a noisy statistic (one draw's
coefficient of variation is about 0.5, and each draw also carries its reference block's chance
deviations), so even 40 draws leave a standard error of 0.1–0.17. Its *expectation* is
(D + (A_x + A_y)/n) / (2A_y/n), with D the population energy distance and A the mean distances
within each law (:func:`expected_energy_ratio`), and those three can be estimated from a million
points in seconds, where the pairwise form would need 10¹² distances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pushforward.metrics.two_sample import check_samples


def cramer_terms_1d(u: Tensor, v: Tensor) -> tuple[float, float, float]:
    """``(2∫(F−G)², 2∫F(1−F), 2∫G(1−G))`` for the empirical CDFs F of ``u`` and G of ``v``
    (1-D): exactly the V-statistics 2·mean|u−v| − mean|u−u'| − mean|v−v'|, mean|u−u'| and
    mean|v−v'| over all pairs, by one sort of the pooled points."""
    n, m = u.numel(), v.numel()
    pooled, order = torch.sort(torch.cat([u, v]))
    from_u = (order < n).to(pooled.dtype)
    # Between consecutive pooled points both CDFs are constant: integrate them gap by gap.
    gaps = pooled[1:] - pooled[:-1]
    f = from_u.cumsum(0)[:-1] / n
    g = (1.0 - from_u).cumsum(0)[:-1] / m
    difference = f - g
    return (
        2.0 * float((difference * difference * gaps).sum()),
        2.0 * float((f * (1.0 - f) * gaps).sum()),
        2.0 * float((g * (1.0 - g) * gaps).sum()),
    )


def projection_directions(dimension: int, count: int, seed: int = 0) -> Tensor:
    """``count`` unit vectors (float64, one per row): the midpoints of equal arcs of the half
    circle in 2-D, the axis in 1-D, and seeded uniform random directions in higher dimensions."""
    if dimension < 1 or count < 1:
        raise ValueError(f"dimension {dimension} and direction count {count} must be at least 1")
    if dimension == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    if dimension == 2:
        angles = math.pi * (torch.arange(count, dtype=torch.float64) + 0.5) / count
        return torch.stack([angles.cos(), angles.sin()], dim=1)
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(count, dimension, generator=generator, dtype=torch.float64)
    return directions / directions.norm(dim=1, keepdim=True)


def mean_absolute_coordinate(dimension: int) -> float:
    """E|θ₁| for θ uniform on the unit sphere of R^d: Γ(d/2) / (√π Γ((d+1)/2))."""
    return math.exp(math.lgamma(dimension / 2) - math.lgamma((dimension + 1) / 2)) / math.sqrt(math.pi)


@dataclass(frozen=True)
class EnergyTerms:
    """The energy statistics of two large samples, from their projections.

    ``distance``: the unbiased (U-statistic) estimate of the population energy distance D;
    ``within_x`` / ``within_y``: unbiased estimates of E‖X−X'‖ and E‖Y−Y'‖; ``distance_v``: the
    V-statistic :func:`~pushforward.metrics.two_sample.energy_distance` would return for the
    same two samples (up to the directions' quadrature); ``n_x``, ``n_y``: the sample sizes.
    """

    distance: float
    within_x: float
    within_y: float
    distance_v: float
    n_x: int
    n_y: int


def projected_energy_terms(x: Tensor, y: Tensor, directions: int = 90, seed: int = 0) -> EnergyTerms:
    """:class:`EnergyTerms` of samples ``x`` and ``y`` (``(n, d)``), averaged over ``directions``
    projections (:func:`projection_directions`; ``seed`` for d > 2). Cost: one sort of n + m
    numbers per direction."""
    # On the CPU in float64: a sort per direction is cheap there, and MPS has no float64.
    x, y = check_samples(torch.as_tensor(x).cpu(), torch.as_tensor(y).cpu())
    n, m, dimension = x.shape[0], y.shape[0], x.shape[1]
    totals = torch.zeros(3, dtype=torch.float64)
    unit_vectors = projection_directions(dimension, 1 if dimension == 1 else directions, seed)
    for direction in unit_vectors:
        totals += torch.tensor(cramer_terms_1d(x @ direction, y @ direction), dtype=torch.float64)
    distance_v, within_x_v, within_y_v = (totals / unit_vectors.shape[0] / mean_absolute_coordinate(dimension)).tolist()
    # The V-statistics' within terms include the n zero distances of each point to itself.
    within_x, within_y = within_x_v * n / (n - 1), within_y_v * m / (m - 1)
    distance = distance_v - within_x / n - within_y / m
    return EnergyTerms(distance, within_x, within_y, distance_v, n, m)


def expected_energy_ratio(terms: EnergyTerms, n: int) -> float:
    """The energy ratio that draws of ``n`` model samples against ``n`` reference points would
    average to (ratio of the means, as :func:`~pushforward.metrics.two_sample.energy_ratio`
    takes it), with ``terms`` of model samples (x) against data (y).

    A V-statistic between independent samples of sizes n and n has expectation
    D + E‖X−X'‖/n + E‖Y−Y'‖/n, and the floor (two real samples) 2E‖Y−Y'‖/n.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    floor = 2.0 * terms.within_y / n
    return (terms.distance + (terms.within_x + terms.within_y) / n) / floor


@dataclass(frozen=True)
class ExpectedEnergyRatio:
    """:func:`expected_energy_ratio` of all of a model's samples against a large reference, with
    ``se`` the spread of the same estimate over ``groups`` disjoint groups of both sides divided
    by √groups: right when the estimate's error is first order (a model that differs from the
    data), an overestimate near D = 0, where a U-statistic's error falls as 1/size, not 1/√size."""

    ratio: float
    se: float
    groups: int


def expected_ratio_with_error(samples: Tensor, reference: Tensor, n: int, groups: int = 8, directions: int = 45) -> ExpectedEnergyRatio:
    """:class:`ExpectedEnergyRatio` of ``samples`` (model) against ``reference`` (data) for draws
    of ``n`` points. Each group needs at least 2 points of either side."""
    if groups < 2:
        raise ValueError(f"groups must be at least 2 for a standard error, not {groups}")
    if min(samples.shape[0], reference.shape[0]) < 2 * groups:
        raise ValueError(f"{groups} groups need at least {2 * groups} points of either side")
    ratio = expected_energy_ratio(projected_energy_terms(samples, reference, directions), n)
    spread = torch.tensor(
        [
            expected_energy_ratio(projected_energy_terms(part, real, directions), n)
            for part, real in zip(samples.tensor_split(groups), reference.tensor_split(groups))
        ],
        dtype=torch.float64,
    )
    return ExpectedEnergyRatio(ratio, float(spread.std() / math.sqrt(groups)), groups)
