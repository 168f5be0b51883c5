"""Precision, recall, density and coverage: fidelity and diversity on k-nearest-neighbour balls.

Around every real point put the ball reaching its k-th nearest real neighbour; their union is an
estimate of the real data's support (likewise for the generated points).

* precision — the share of generated points inside the real support (fidelity), and
* recall — the share of real points inside the generated support (diversity):
  Kynkäänniemi, Karras, Laine, Lehtinen & Aila, "Improved Precision and Recall Metric for
  Assessing Generative Models", NeurIPS (2019);
* density — how many real balls hold a generated point, on average, divided by k (about 1 when
  the distributions are equal; it rewards samples where real points are dense and is not
  capped at 1), and
* coverage — the share of real points whose ball holds at least one generated point (robust
  to outliers among the generated points, unlike recall):
  Naeem, Oh, Uh, Choi & Yoo, "Reliable Fidelity and Diversity Metrics for Generative Models",
  ICML (2020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.metrics.two_sample import _check_chunk, _whole_number, check_samples

PRDC_CHUNK = 1024  # generated (or real) rows per block: 1024 × 10,000 float64 distances ≈ 80 MB
DEFAULT_K = 5  # Naeem et al.'s choice


@dataclass(frozen=True)
class PRDCResult:
    """The four scores with their binomial-style standard errors.

    The standard errors treat the balls as fixed (they are conditional on the real and
    generated sets that define the radii), so they measure the sampling error of the points
    tested against the balls, not that of the balls themselves; compare with the same metric
    between two real samples (the noise floor) to judge a difference.
    """

    precision: float
    recall: float
    density: float
    coverage: float
    precision_se: float
    recall_se: float
    density_se: float
    coverage_se: float
    k: int
    n_real: int
    n_fake: int


def _distances(rows: Tensor, columns: Tensor) -> Tensor:
    # Direct differences, not the ‖a‖² + ‖b‖² − 2a·b expansion: a distance comes out bit for bit
    # the same whichever block it is computed in, so chunking never moves a point across a
    # ball's boundary.
    return torch.cdist(rows, columns, compute_mode="donot_use_mm_for_euclid_dist")


def nearest_neighbour_radii(points: Tensor, k: int, chunk: int = PRDC_CHUNK) -> Tensor:
    """Distance from each row of ``points`` to its k-th nearest other row, ``chunk`` rows at a time."""
    radii = []
    for block in points.split(chunk):
        # The (k+1)-th smallest distance in the row: the first is the point itself (zero).
        radii.append(_distances(block, points).kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def prdc(real: Tensor, fake: Tensor, *, k: int = DEFAULT_K, chunk: int = PRDC_CHUNK) -> PRDCResult:
    """Precision, recall, density and coverage of ``fake`` against ``real`` with k-NN balls.

    Works on any event shape (points are flattened to vectors), on the inputs' device, in
    float64 (float32 on MPS, which has no float64), with the distance matrices computed
    ``chunk`` rows at a time and never held whole: O((n + m)·n) distances in all,
    O(chunk·max(n, m)) memory. Both sets need more than ``k`` points. On identical sets
    precision, recall and coverage are exactly 1.
    """
    real_points, fake_points = check_samples(real, fake)
    k_value = _whole_number(k)
    if k_value is None:
        raise UserError(f"k must be a positive whole number, not {k!r}", "use k=5 (Naeem et al., 2020)")
    chunk = _check_chunk(chunk)
    n, m = real_points.shape[0], fake_points.shape[0]
    if min(n, m) <= k_value:
        raise UserError(
            f"precision/recall need more than k={k_value} points in each set (got {n} and {m})",
            "draw more samples or use a smaller k",
        )
    real_radii = nearest_neighbour_radii(real_points, k_value, chunk)
    fake_radii = nearest_neighbour_radii(fake_points, k_value, chunk)

    in_real_support = torch.zeros(m, dtype=torch.bool, device=real_points.device)
    real_balls_hit = torch.zeros(m, dtype=real_points.dtype, device=real_points.device)
    real_in_fake_support = torch.zeros(n, dtype=torch.bool, device=real_points.device)
    nearest_fake = torch.full((n,), math.inf, dtype=real_points.dtype, device=real_points.device)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        distances = _distances(fake_points[start:stop], real_points)  # (block, n)
        inside_real_balls = distances <= real_radii[None, :]
        in_real_support[start:stop] = inside_real_balls.any(dim=1)
        real_balls_hit[start:stop] = inside_real_balls.sum(dim=1, dtype=real_points.dtype)
        real_in_fake_support |= (distances <= fake_radii[start:stop, None]).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, distances.min(dim=0).values)

    # Fractions as counts over totals: exact, and no float64 tensor on a device without it.
    precision = int(in_real_support.sum()) / m
    recall = int(real_in_fake_support.sum()) / n
    per_point_density = real_balls_hit / k_value
    density = float(per_point_density.mean())
    covered = nearest_fake <= real_radii
    coverage = int(covered.sum()) / n
    return PRDCResult(
        precision=precision,
        recall=recall,
        density=density,
        coverage=coverage,
        precision_se=math.sqrt(precision * (1 - precision) / m),
        recall_se=math.sqrt(recall * (1 - recall) / n),
        density_se=float(per_point_density.std() / math.sqrt(m)),
        coverage_se=math.sqrt(coverage * (1 - coverage) / n),
        k=k_value,
        n_real=n,
        n_fake=m,
    )
