"""Two-sample statistics: could these generated points be told from real ones?"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pushforward.device import widened
from pushforward.errors import UserError
from pushforward.metrics.distances import DEFAULT_CHUNK, flatten_events, mean_pairwise_distance


def check_samples(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Validate two sample sets and return them as (n, d) float tensors on one device."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.dim() < 1 or y.dim() < 1:
        raise UserError("sample sets must have one row per point", "pass arrays of shape (n, d)")
    # In the most precise dtype x's device has (float64; float32 on MPS), y moved beside it.
    x = widened(flatten_events(x if x.dim() > 1 else x[:, None]))
    y = flatten_events(y if y.dim() > 1 else y[:, None]).to(device=x.device, dtype=x.dtype)
    if x.shape[1] != y.shape[1]:
        raise UserError(
            f"the two sample sets have different dimensions ({x.shape[1]} and {y.shape[1]})",
            "compare samples of the same data",
        )
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise UserError("each sample set needs at least 2 points", "draw more samples")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise UserError("the samples contain NaN or infinite values", "remove them (they may come from a diverged model)")
    return x, y


def energy_distance(x: Tensor, y: Tensor, chunk: int = DEFAULT_CHUNK, within_y: float | None = None) -> float:
    """The energy distance 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ between two samples (V-statistic).

    Székely & Rizzo, "Testing for equal distributions in high dimensions", InterStat (2004).
    It is zero only when the distributions are equal; between two finite samples of one
    distribution it is small but positive, so compare it with its noise floor (the same
    statistic between two independent real samples of the same sizes).

    ``within_y``: :func:`mean_within` of ``y``, when many samples are compared with one
    reference ``y``; it is a third of the work, and the same every time.
    """
    x, y = check_samples(x, y)
    between = mean_pairwise_distance(x, y, chunk)
    within_x = mean_pairwise_distance(x, x, chunk)
    if within_y is None:
        within_y = float(mean_pairwise_distance(y, y, chunk))
    return float(2 * between - within_x) - within_y


def mean_within(y: Tensor, chunk: int = DEFAULT_CHUNK) -> float:
    """E‖Y−Y'‖ over all pairs of one sample, the V-statistic term :func:`energy_distance` takes
    as ``within_y``."""
    y, _ = check_samples(y, y)
    return float(mean_pairwise_distance(y, y, chunk))


def disjoint_blocks(points: Tensor, size: int, most: int) -> list[Tensor]:
    """``points`` cut into disjoint blocks of ``size`` rows, at most ``most`` of them, and one
    (possibly shorter) when there are fewer than ``2 * size`` rows.

    Draws of model samples scored against one fixed set of held-out points also measure how the
    model's errors happen to line up with that set's chance deviations from the data's law, a
    term that does not average out over draws. Cycling the draws through several blocks, and the
    floor's draws through the same blocks, averages it out."""
    if size < 1 or most < 1:
        raise ValueError(f"block size {size} and block count {most} must be at least 1")
    count = max(1, min(most, points.shape[0] // size))
    return [points[k * size : (k + 1) * size] for k in range(count)]


@dataclass(frozen=True)
class EnergyRatio:
    """Energy distances of model samples against a reference, over their noise floor.

    ``distance`` and ``floor`` are means over draws (``draws`` and ``floor_draws`` of them),
    ``ratio`` = distance / floor, and ``ratio_se`` its delta-method standard error, or None when
    either side has a single draw (its spread is then unknown).
    """

    distance: float
    floor: float
    ratio: float
    ratio_se: float | None
    draws: int
    floor_draws: int


def energy_ratio(distances: Sequence[float], floors: Sequence[float]) -> EnergyRatio:
    """The ratio of the mean energy distance of several sample draws to the mean of several
    floor draws (each of the same size against the same reference points).

    One draw of either is noisy: between two real samples the statistic's coefficient of
    variation is about 0.5 (checkerboard, 10,000 points), so a single ratio of a perfect model
    lands anywhere from about 0.5 to 2.5. Averaging R draws on each side divides that spread by
    √R; the standard error is the delta method's for a ratio of independent means,
    ratio · √(CV²_distance / R + CV²_floor / R_floor).
    """
    d = torch.as_tensor(list(distances), dtype=torch.float64)
    f = torch.as_tensor(list(floors), dtype=torch.float64)
    if d.numel() < 1 or f.numel() < 1:
        raise ValueError("energy_ratio needs at least one draw of each")
    distance, floor = float(d.mean()), float(f.mean())
    ratio = distance / floor if floor > 0 else math.inf
    se = None
    if d.numel() > 1 and f.numel() > 1 and floor > 0 and distance > 0:
        relative_variance = float(d.var()) / distance**2 / d.numel() + float(f.var()) / floor**2 / f.numel()
        se = ratio * math.sqrt(relative_variance)
    return EnergyRatio(distance, floor, ratio, se, int(d.numel()), int(f.numel()))


@dataclass(frozen=True)
class TestResult:
    """The outcome of a permutation two-sample test.

    ``statistic`` is the observed value, ``p_value`` the permutation p-value
    (1 + #{permuted statistics ≥ observed}) / (1 + permutations), and ``name`` says which test.
    """

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    permutations: int
    name: str


TEST_CHUNK = 2048  # rows of the pooled matrix per block: 2048 × 20,000 float64 ≈ 330 MB
_LABEL_BUDGET = 2**25  # float64 entries in one batch of permutation labels (≈ 270 MB)


def _whole_number(value: object) -> int | None:
    """``value`` as a positive int, or None when it is not one (bools and 2.5 are not)."""
    if isinstance(value, (bool, str)):
        return None
    try:
        whole = int(value)  # type: ignore[call-overload]
        return whole if whole == value and whole >= 1 else None
    except (TypeError, ValueError, OverflowError):
        return None


def _check_permutations(permutations: int) -> int:
    whole = _whole_number(permutations)
    if whole is None:
        raise UserError(
            f"permutations must be a positive whole number, not {permutations!r}",
            "pass permutations=200 or more (the p-value cannot go below 1 / (1 + permutations))",
        )
    return whole


def _check_chunk(chunk: int) -> int:
    whole = _whole_number(chunk)
    if whole is None:
        raise UserError(f"chunk must be a positive whole number, not {chunk!r}", "pass chunk=2048")
    return whole


def _label_batches(n: int, m: int, permutations: int, seed: int, batch: int) -> Iterator[np.ndarray]:
    """Rows of indicators of the first group, ``batch`` at a time: first the observed split,
    then one row per permutation.

    Permutation k puts into the first group the points ``perm[:n]`` of the k-th draw of
    ``numpy.random.RandomState(seed).permutation(n + m)``: the same permutation stream (and the
    same "first n after permuting" rule) as ``dcor.homogeneity.energy_test(random_state=seed)``.
    """
    state = np.random.RandomState(seed)
    for start in range(0, 1 + permutations, batch):
        labels = np.zeros((min(batch, 1 + permutations - start), n + m))
        for i, row in enumerate(labels):
            if start + i == 0:
                row[:n] = 1
            else:
                row[state.permutation(n + m)[:n]] = 1
        yield labels


def _block_sums(
    z: Tensor, labels: Tensor, block: Callable[[Tensor, Tensor], Tensor], chunk: int
) -> tuple[Tensor, Tensor, Tensor]:
    """For a symmetric pooled matrix K (never held whole) and label rows l, the sums

    A = lᵀ K l (within the first group), B = lᵀ K 1, and T = 1ᵀ K 1.

    One pass over the upper block triangle of K: ``block(z[rows], z[rows.start:])`` gives the
    rows' entries from their own diagonal on (its [i, i] entry is the pair of a point with
    itself). The within-group sums of all label rows come from one matrix product per block;
    blocks above the diagonal stand for their mirror images too, which halves the work.
    """
    within = torch.zeros(labels.shape[0], dtype=z.dtype, device=z.device)
    row_sums = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
    for start in range(0, z.shape[0], chunk):
        stop = min(start + chunk, z.shape[0])
        k = block(z[start:stop], z[start:])
        products = (labels[:, start:stop] @ k) * labels[:, start:]
        diagonal_block = products[:, : stop - start].sum(1)
        within += 2 * products.sum(1) - diagonal_block
        row_sums[start:stop] += k.sum(1)
        row_sums[stop:] += k[:, stop - start :].sum(0)
    return within, labels @ row_sums, row_sums.sum()


def _group_sums(
    z: Tensor, n: int, permutations: int, seed: int, block: Callable[[Tensor, Tensor], Tensor], chunk: int
) -> tuple[Tensor, Tensor, Tensor]:
    """(Sxx, Sxy, Syy) of the observed split (entry 0) and of every permutation.

    The permutations go through the pooled matrix in batches of about ``_LABEL_BUDGET / (n+m)``
    (1677 at 10,000 vs 10,000), each batch one pass; more permutations recompute the matrix.
    """
    batch = max(1, _LABEL_BUDGET // z.shape[0])
    parts = []
    for labels in _label_batches(n, z.shape[0] - n, permutations, seed, batch):
        parts.append(_block_sums(z, torch.from_numpy(labels).to(z.device), block, chunk))
    within = torch.cat([p[0] for p in parts])
    with_all = torch.cat([p[1] for p in parts])
    total = parts[0][2]
    return within, with_all - within, total - 2 * with_all + within


def _p_value(statistics: Tensor) -> float:
    observed, permuted = statistics[0], statistics[1:]
    return (1 + int((permuted >= observed).sum())) / (1 + permuted.numel())


def _distances(rows: Tensor, columns: Tensor) -> Tensor:
    return torch.cdist(rows, columns, compute_mode="donot_use_mm_for_euclid_dist")


def energy_test(
    x: Tensor, y: Tensor, permutations: int = 200, seed: int = 0, chunk: int = TEST_CHUNK
) -> TestResult:
    """Permutation test of equal distributions with the energy statistic.

    Székely & Rizzo, "Testing for equal distributions in high dimensions", InterStat (2004).
    The statistic is n·m/(n+m) times the V-statistic energy distance (:func:`energy_distance`),
    the value ``dcor.homogeneity.energy_test`` reports with its defaults. Permutations follow
    ``numpy.random.RandomState(seed)``, the stream dcor draws with ``random_state=seed``, so the
    permuted statistics are dcor's; the p-value is (1 + #{permuted ≥ observed}) / (1 +
    permutations). (dcor counts only permuted > observed; for continuous data the two agree.)

    The pooled (n+m)² distance matrix is computed once, ``chunk`` rows at a time in float64 on
    the inputs' device, and never held whole; every permutation's group sums come from matrix
    products of a block with the (permutations + 1, n + m) matrix of group labels. (Beyond
    about 2²⁵ / (n+m) permutations the labels go in several batches, one pass over the matrix
    each.) At 10,000 vs 10,000 points and 200 permutations: about 1 s on 2 CPU threads.
    """
    x, y = check_samples(x, y)
    permutations, chunk = _check_permutations(permutations), _check_chunk(chunk)
    n, m = x.shape[0], y.shape[0]
    z = torch.cat([x, y])
    sxx, sxy, syy = _group_sums(z, n, permutations, seed, _distances, chunk)
    energy = 2 * sxy / (n * m) - sxx / n**2 - syy / m**2
    statistics = n * m / (n + m) * energy
    return TestResult(float(statistics[0]), _p_value(statistics), permutations, "energy")


MEDIAN_SUBSET = 2000


def median_bandwidth(x: Tensor, y: Tensor) -> float:
    """The median heuristic: median of ‖z_i − z_j‖ over pairs i < j of the pooled sample z.

    z is x followed by y. The median is ``torch.median`` (the lower of the two middle values
    for an even count). Above 2000 pooled points it is taken over the pairs of a fixed subset
    of 2000 of them (``torch.randperm(n + m, generator=torch.Generator().manual_seed(0))[:2000]``),
    so it is deterministic and costs O(2000²). The kernel size of Gretton et al.'s (2012) experiments.
    """
    x, y = check_samples(x, y)
    return _median_bandwidth(torch.cat([x, y]))


def _median_bandwidth(z: Tensor) -> float:
    if z.shape[0] > MEDIAN_SUBSET:
        subset = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(0))[:MEDIAN_SUBSET]
        z = z[subset.to(z.device)]
    bandwidth = float(torch.pdist(z).median())
    if not bandwidth > 0:
        raise UserError(
            "the median heuristic gives a zero kernel bandwidth (most points are duplicates)",
            "pass bandwidth=<a positive length> explicitly",
        )
    return bandwidth


# Multiples of the median distance summed by ``bandwidth="multiscale"``: a factor of 2 apart,
# so structure from a quarter of the typical distance to four times it is seen by some kernel.
MULTISCALE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)

Bandwidth = float | Sequence[float] | str | None
"""A kernel size: None or "median" (the median heuristic), "multiscale" (the median times each of
:data:`MULTISCALE_FACTORS`, kernels summed), a positive float σ, or a sequence of σ (summed)."""


def kernel_bandwidths(x: Tensor, y: Tensor, bandwidth: Bandwidth = None) -> list[float]:
    """The σ values that ``bandwidth`` stands for on the pooled sample of ``x`` and ``y``.

    Fix them on one pair of samples (say two real ones) and pass the list to :func:`mmd` for
    every model, so that MMD values of different models use one kernel and can be compared.
    """
    x, y = check_samples(x, y)
    return _bandwidths(torch.cat([x, y]), bandwidth)


def _bandwidths(z: Tensor, bandwidth: Bandwidth) -> list[float]:
    if bandwidth is None or (isinstance(bandwidth, str) and bandwidth == "median"):
        return [_median_bandwidth(z)]
    if isinstance(bandwidth, str) and bandwidth == "multiscale":
        median = _median_bandwidth(z)
        return [factor * median for factor in MULTISCALE_FACTORS]
    if isinstance(bandwidth, Tensor):
        bandwidth = bandwidth.tolist()
    try:
        values = [float(v) for v in np.atleast_1d(np.asarray(bandwidth, dtype=np.float64))]
    except (TypeError, ValueError):
        values = []
    if isinstance(bandwidth, (bool, str)) or not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise UserError(
            f"bandwidth must be 'median', 'multiscale', a positive length or a non-empty sequence of them, not {bandwidth!r}",
            "pass bandwidth='median' (the default), 'multiscale', a float, or a list such as [0.5, 1, 2]",
        )
    return values


def _kernel_block(bandwidths: list[float]) -> Callable[[Tensor, Tensor], Tensor]:
    """Blocks of the pooled Gaussian kernel matrix Σ_σ exp(−‖a−b‖² / 2σ²) with a zero diagonal."""

    def block(rows: Tensor, columns: Tensor) -> Tensor:
        squared = _distances(rows, columns).square_()
        k = torch.zeros_like(squared)
        for sigma in bandwidths:
            k += torch.exp(squared / (-2 * sigma**2))
        # the unbiased estimate leaves out every k(z_i, z_i)
        k.diagonal().zero_()
        return k

    return block


def _mmd_squared(sxx: Tensor, sxy: Tensor, syy: Tensor, n: int, m: int) -> Tensor:
    return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)


def mmd(
    x: Tensor, y: Tensor, bandwidth: Bandwidth = None, chunk: int = TEST_CHUNK
) -> float:
    """Unbiased squared maximum mean discrepancy MMD²_u with a Gaussian kernel.

    Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A Kernel Two-Sample Test", JMLR (2012), eq. 3:

        MMD²_u = Σ_{i≠j} k(x_i, x_j) / n(n−1) + Σ_{i≠j} k(y_i, y_j) / m(m−1) − 2 Σ_{i,j} k(x_i, y_j) / nm

    with k(a, b) = exp(−‖a − b‖² / 2σ²). ``bandwidth`` is σ: None or "median" for the median
    heuristic (:func:`median_bandwidth`); "multiscale" for the sum of kernels at the median
    times 1/4, 1/2, 1, 2 and 4 (:data:`MULTISCALE_FACTORS`), which sees both fine and coarse
    differences (the sum of characteristic kernels is characteristic); a float; or a sequence
    of σ whose kernels are summed. Being unbiased, it can be slightly negative when the
    distributions are equal.
    """
    x, y = check_samples(x, y)
    chunk = _check_chunk(chunk)
    z = torch.cat([x, y])
    block = _kernel_block(_bandwidths(z, bandwidth))
    labels = torch.zeros(1, z.shape[0], dtype=z.dtype, device=z.device)
    labels[0, : x.shape[0]] = 1
    within, with_all, total = _block_sums(z, labels, block, chunk)
    sxx, sxy, syy = within, with_all - within, total - 2 * with_all + within
    return float(_mmd_squared(sxx, sxy, syy, x.shape[0], y.shape[0])[0])


def mmd_test(
    x: Tensor,
    y: Tensor,
    permutations: int = 200,
    seed: int = 0,
    bandwidth: Bandwidth = None,
    chunk: int = TEST_CHUNK,
) -> TestResult:
    """Permutation test of equal distributions with the unbiased MMD² (see :func:`mmd`).

    Gretton et al., "A Kernel Two-Sample Test", JMLR (2012). The bandwidth is chosen once on
    the pooled sample (which permutations leave unchanged), the pooled kernel matrix is computed
    once in ``chunk``-row blocks, and every permutation's MMD² comes from matrix products with
    the label matrix, as in :func:`energy_test` (same permutation stream and p-value).
    """
    x, y = check_samples(x, y)
    permutations, chunk = _check_permutations(permutations), _check_chunk(chunk)
    n, m = x.shape[0], y.shape[0]
    z = torch.cat([x, y])
    block = _kernel_block(_bandwidths(z, bandwidth))
    statistics = _mmd_squared(*_group_sums(z, n, permutations, seed, block, chunk), n, m)
    return TestResult(float(statistics[0]), _p_value(statistics), permutations, "mmd")
