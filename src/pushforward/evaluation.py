"""Evaluating a fitted model on its held-out data: likelihood and sample quality."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.metrics.classifier import c2st
from pushforward.metrics.coverage import DEFAULT_K, prdc
from pushforward.metrics.distances import flatten_events
from pushforward.metrics.likelihood import nll_summary
from pushforward.metrics.two_sample import (
    disjoint_blocks,
    energy_distance,
    energy_ratio,
    energy_test,
    kernel_bandwidths,
    mean_within,
    mmd,
    mmd_test,
)
from pushforward.metrics.modes import PROTOCOL_SAMPLES, mode_coverage

if TYPE_CHECKING:
    from pushforward.api import FittedModel


ENERGY_DRAWS = 5
"""Draws of model samples, and on toys of fresh real samples for the floor, that the energy
ratio averages. One draw of the ratio has a coefficient of variation of about 0.5 per side
(:func:`~pushforward.metrics.two_sample.energy_ratio`): a ranking by single draws would order
models by chance. Five draws per side take it to about 0.3, for about 3.5× the distance
computations of one draw each (the reference's own term is computed once)."""


def check_evaluation_size(n: object) -> int:
    """``n`` if it is enough samples for every metric, else a :class:`UserError`: precision and
    recall need more points than their k nearest neighbours. ``compare`` asks it before training."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= DEFAULT_K:
        raise UserError(f"--n is {n!r}, and precision/recall need more than k = {DEFAULT_K} samples",
                        f"evaluate with at least {DEFAULT_K + 1} samples (default 10000)")
    return n


def evaluate_model(fitted: FittedModel, *, n: int, seed: int) -> dict[str, Any]:
    """Test NLL (nats, bits/dim) and KL gap where known; energy distance with its noise floor;
    two-sample tests, a classifier test and precision/recall/density/coverage (:func:`_test_metrics`).

    * ``test_nll``: mean −log p over the whole test split, in nats of the data's units, with its
      standard error; ``test_nll_kind`` says whether it is exact, an estimate or a bound, and
      ``test_nll_label`` says what that makes the NLL ("exact", "estimate", "upper bound");
      ``test_bits_per_dim`` ± ``test_bits_per_dim_se`` is the same in bits per dimension.
      For an estimate it is also given as ``test_nll_estimate``, with ``test_nll_estimate_samples``
      the number of samples (K) the model's estimator used.
    * ``kl_gap``: test NLL minus the true entropy (toy data only) = KL(p_data ‖ p_model) ≥ 0,
      up to the test set's sampling error.
    * ``energy_distance``: between ``n`` model samples and ``n`` held-out points;
      ``energy_floor``: the same statistic between two independent real samples of size ``n``,
      so ``energy_ratio`` near 1 means the samples cannot be told from real ones at this size.
      Each is the mean over :data:`ENERGY_DRAWS` draws (the floor's on toys only), and
      ``energy_ratio_se`` is the ratio's standard error (see :func:`_energy_metrics`). On toys
      the draws of both sides cycle through up to :data:`ENERGY_DRAWS` disjoint blocks of ``n``
      held-out points, so the ratio does not rest on one set's chance deviations.
    * ``energy_ratio_expected`` ± ``energy_ratio_expected_se`` (data of at most 2 dimensions):
      what those draws' ratio averages to, estimated from all of them at once
      (:func:`_expected_energy_ratio`), with a smaller error than the five draws'.
    * on the Gaussian-mixture toys (8gaussians, 25gaussians): ``modes_captured`` (of
      ``modes_total``), ``high_quality_fraction`` and ``mode_kl`` from 2,500 samples
      (:mod:`pushforward.metrics.modes`).
    """
    check_evaluation_size(n)
    dataset = fitted.dataset()
    results: dict[str, Any] = {"model": fitted.name, "data": dataset.spec.label}

    kind = fitted.model.likelihood
    results["test_nll_kind"] = kind
    # Continuous flows count their ODE solver's function evaluations per solve.
    counts_nfe = hasattr(fitted.model, "reset_nfe")
    if counts_nfe:
        fitted.model.reset_nfe()
    if kind != "none":
        started = time.perf_counter()
        log_prob = fitted.log_prob_tensor(dataset.test).double()
        results["nll_seconds"] = round(time.perf_counter() - started, 4)
        if counts_nfe:
            results["nfe_log_prob"] = fitted.model.nfe_log_prob.per_solve()
        summary = nll_summary(log_prob, _dimension(fitted.event_shape), kind)
        results["test_points"] = summary.points
        if summary.nonfinite:
            results["nonfinite_log_prob"] = summary.nonfinite
        results["test_nll"], results["test_nll_se"] = summary.nll, summary.nll_se
        results["test_nll_label"] = summary.label
        results["test_bits_per_dim"], results["test_bits_per_dim_se"] = summary.bits_per_dim, summary.bits_per_dim_se
        if kind == "estimate":
            # Name the number for what it is, with the sample count it rests on.
            results["test_nll_estimate"] = summary.nll
            results["test_nll_estimate_samples"] = getattr(fitted.model, "estimate_samples", None)
    else:
        results["test_nll"] = results["test_nll_se"] = None
    toy = dataset.toy
    if toy is not None:
        results["entropy"], results["entropy_se"] = toy.entropy, toy.entropy_se
        if results["test_nll"] is not None:
            results["kl_gap"] = results["test_nll"] - toy.entropy
            results["kl_gap_se"] = math.hypot(results["test_nll_se"], toy.entropy_se)
            # The same KL(p‖q), estimated on the same points as mean(log p − log q): the two
            # log-densities move together from point to point, so this paired estimate has a
            # far smaller standard error than test NLL − entropy on the noisy toys.
            difference = toy.log_prob(dataset.test.double()) - log_prob
            if torch.isfinite(difference).all():
                results["kl_gap_paired"] = float(difference.mean())
                results["kl_gap_paired_se"] = float(difference.std() / math.sqrt(difference.numel()))
    results.setdefault("kl_gap", None)
    fitted.model.eval()
    held_out = torch.as_tensor(dataset.test, dtype=torch.float32).to(fitted.model.device)
    diagnostics = fitted.model.diagnostics(fitted.preprocessing.forward(held_out))
    results.update(diagnostics)
    # What a new fit would refuse in the run's data comes first, and is kept in metrics.json.
    results["warnings"] = list(dataset.fit_refusals) + fitted.model.warnings(diagnostics)

    # Real samples of one size: blocks of held-out test points, which model samples are
    # compared with (draw r against block r mod their number; the first block, real_a, for the
    # tests), and draws for the floor: fresh toy points (seeds seed + 7 + r) against the same
    # blocks, or the other half of the test split, a file's only independent second sample. The
    # first floor draw is also the tests' second real sample (real_b).
    if toy is not None:
        size = min(n, dataset.test.shape[0])
        references = disjoint_blocks(dataset.test, size, ENERGY_DRAWS)
        floor_reals = [dataset.fresh_real_samples(size, seed=seed + 7 + r) for r in range(ENERGY_DRAWS)]
    else:
        size = min(n, dataset.test.shape[0] // 2)
        if size < 2:
            raise UserError("the test split is too small for sample metrics", "fit on more data")
        references, floor_reals = [dataset.test[:size]], [dataset.test[size : 2 * size]]
    real_a, real_b = references[0], floor_reals[0]
    started = time.perf_counter()
    samples = fitted.sample_tensor(size, seed=seed)
    results["sample_seconds"] = round(time.perf_counter() - started, 4)
    results.update(fitted.model.sampling_facts())
    if counts_nfe:
        results["nfe_sample"] = fitted.model.nfe_sample.per_solve()
    results["n"] = size
    finite_rows = torch.isfinite(samples.reshape(size, -1)).all(dim=1)
    if not finite_rows.all():
        results["nonfinite_samples"] = int((~finite_rows).sum())
    # The expected ratio's reference (up to a million points) only where it will be used.
    expected_reference = _expected_reference(dataset, ENERGY_DRAWS * size, seed) if finite_rows.all() and real_a[0].numel() <= 2 else None
    results.update(_energy_metrics(fitted, samples if finite_rows.all() else None, references, floor_reals, seed, expected_reference))
    if toy is not None and toy.bounded_support and finite_rows.all():
        results["outside_support"] = float((~toy.support_contains(samples)).double().mean())
    if toy is not None and toy.modes is not None and toy.mode_std is not None:
        # VEEGAN / PacGAN mode coverage, on its own 2,500 samples as in their protocol.
        coverage = mode_coverage(fitted.sample_tensor(PROTOCOL_SAMPLES, seed=seed + 1), toy.modes, toy.mode_std)
        results["modes_captured"] = coverage.modes_captured
        results["modes_total"] = coverage.modes_total
        results["high_quality_fraction"] = coverage.high_quality_fraction
        results["mode_kl"] = coverage.mode_kl if math.isfinite(coverage.mode_kl) else None  # no HQ sample
    started = time.perf_counter()
    results.update(_test_metrics(samples if finite_rows.all() else None, real_a, real_b, seed=seed))
    results["metrics_seconds"] = round(time.perf_counter() - started, 4)
    return results


def _energy_metrics(
    fitted: FittedModel, samples: Tensor | None, references: list[Tensor], floor_reals: list[Tensor], seed: int, expected_reference: Tensor | None = None
) -> dict[str, Any]:
    """``energy_distance`` / ``energy_floor`` (means over draws), ``energy_ratio`` with
    ``energy_ratio_se`` (none from a single floor draw), and the draws behind them: ``samples``
    (seed ``seed``) and :data:`ENERGY_DRAWS` − 1 more (seeds ``seed + r``), over ``floor_reals``;
    draw r of either side against ``references[r mod len(references)]``, blocks of held-out
    points of one size (see :func:`~pushforward.metrics.two_sample.disjoint_blocks`). No
    distance for samples that are not all finite. With ``expected_reference``, also what the
    draws' ratio averages to (:func:`_expected_energy_ratio`)."""
    # Each block's own term, computed once and shared by the draws of both sides against it.
    withins = [mean_within(block) for block in references]

    def against_blocks(draws: list[Tensor]) -> list[float]:
        return [energy_distance(draw, references[r % len(references)], within_y=withins[r % len(references)]) for r, draw in enumerate(draws)]

    floors = against_blocks(floor_reals)
    results: dict[str, Any] = {"energy_floor": sum(floors) / len(floors), "energy_floor_draws": len(floors), "energy_distance": None}
    if samples is None:
        return results
    draws = [samples] + [fitted.sample_tensor(references[0].shape[0], seed=seed + r) for r in range(1, ENERGY_DRAWS)]
    if not all(torch.isfinite(draw).all() for draw in draws):
        return results
    summary = energy_ratio(against_blocks(draws), floors)
    results.update(energy_distance=summary.distance, energy_draws=summary.draws)
    if summary.floor > 0:
        results["energy_ratio"], results["energy_ratio_se"] = summary.ratio, summary.ratio_se
    if expected_reference is not None:
        results.update(_expected_energy_ratio(torch.cat(draws), expected_reference, references[0].shape[0]))
    return results


EXPECTED_REFERENCE_PER_SAMPLE = 4
"""Real points per model sample for the expected ratio on toys. The samples' own error dominates
the estimate's; 4 per sample and 30 directions took 2.5 s for 50,000 samples, against 16 s for
20 per sample and 45 directions (2026-12-04, the slow machine), which would add most of a
minute to a `pushforward demo`."""
EXPECTED_REFERENCE_MOST = 1_000_000
EXPECTED_GROUPS = 8
EXPECTED_DIRECTIONS = 30


def _expected_reference(dataset: Any, samples: int, seed: int) -> Tensor:
    """The data :func:`_expected_energy_ratio` compares all draws with: on toys
    :data:`EXPECTED_REFERENCE_PER_SAMPLE` fresh real points per sample (at most
    :data:`EXPECTED_REFERENCE_MOST`), for a file its whole test split."""
    if dataset.toy is not None:
        return dataset.fresh_real_samples(min(EXPECTED_REFERENCE_MOST, EXPECTED_REFERENCE_PER_SAMPLE * samples), seed=seed + 11)
    return dataset.test


def _expected_energy_ratio(pooled_draws: Tensor, reference: Tensor, n: int) -> dict[str, Any]:
    """``energy_ratio_expected`` ± ``energy_ratio_expected_se``: what the ratio of draws of ``n``
    samples averages to, from all of them at once against ``reference`` by projections
    (:func:`~pushforward.metrics.projected_energy.expected_ratio_with_error`). Only for data of
    at most 2 dimensions: in more, projections need many random directions. On a ddpm run
    (checkerboard, n = 10,000) this gave 1.11 ± 0.23 where the five draws' ratio gave
    1.30 ± 0.46. The error, from 8 groups of the samples, overstates the true one when the model
    is close to the data (then a U-statistic's error falls as 1/size, not 1/√size); the
    benchmark's 40 draws bring it to 0.01–0.03."""
    from pushforward.metrics.projected_energy import expected_ratio_with_error

    if min(pooled_draws.shape[0], reference.shape[0]) < 2 * EXPECTED_GROUPS:
        return {}  # too few points for the groups behind the standard error
    expected = expected_ratio_with_error(flatten_events(pooled_draws), flatten_events(reference), n, EXPECTED_GROUPS, EXPECTED_DIRECTIONS)
    return {"energy_ratio_expected": expected.ratio, "energy_ratio_expected_se": expected.se}


# The tests and the k-NN scores cost more than the energy distance, so they use at most this many
# points per set (the first of the ``n``): about 1.5 s in all on one CPU thread (2,000 and 5,000
# for the tests and PRDC took 5.4 s, too slow for an evaluation that runs once per model).
PERMUTATION_POINTS = 1000  # energy and MMD permutation tests, 200 permutations each
CLASSIFIER_POINTS = 5000  # per class for the classifier test, half of them held out
PRDC_POINTS = 3000  # per set for precision / recall / density / coverage (k = 5)
PERMUTATIONS = 200


def _test_metrics(samples: Tensor | None, real_a: Tensor, real_b: Tensor, *, seed: int) -> dict[str, Any]:
    """Two-sample tests and k-NN scores of ``samples`` against ``real_a``, with noise floors
    from ``real_b`` against ``real_a``; all None when the samples are not finite.

    * ``energy_p_value`` / ``mmd_p_value``: permutation p-values (small = told apart).
    * ``mmd``: unbiased MMD² with the multiscale Gaussian kernel whose bandwidths
      (``mmd_bandwidths``) are fixed on the two *real* samples, so every model of a comparison is
      measured with the same kernel; ``mmd_floor`` is the same between the two real samples.
    * ``c2st_accuracy`` ± ``c2st_accuracy_se`` and ``c2st_p_value``: held-out accuracy of a
      gradient-boosting classifier telling samples from real points (0.5 = indistinguishable).
    * ``precision``, ``recall``, ``density``, ``coverage`` (each with ``_se`` and ``_floor``,
      the value between the two real samples).
    """
    keys = ["energy_p_value", "mmd", "mmd_floor", "mmd_p_value", "c2st_accuracy", "c2st_accuracy_se", "c2st_p_value"]
    keys += [f"{name}{suffix}" for name in PRDC_NAMES for suffix in ("", "_se", "_floor")]
    if samples is None:
        return dict.fromkeys(keys)
    results: dict[str, Any] = {}
    m = min(PERMUTATION_POINTS, samples.shape[0])
    fake, real, other = samples[:m], real_a[:m], real_b[:m]
    results["test_n"], results["permutations"] = m, PERMUTATIONS
    results["energy_p_value"] = energy_test(fake, real, permutations=PERMUTATIONS, seed=seed).p_value
    bandwidths = kernel_bandwidths(real, other, "multiscale")
    mmd_result = mmd_test(fake, real, permutations=PERMUTATIONS, seed=seed, bandwidth=bandwidths)
    results["mmd"], results["mmd_p_value"] = mmd_result.statistic, mmd_result.p_value
    results["mmd_floor"] = mmd(other, real, bandwidth=bandwidths)
    results["mmd_bandwidths"] = bandwidths

    m = min(CLASSIFIER_POINTS, samples.shape[0])
    classifier = c2st(real_a[:m], samples[:m], seed=seed)
    results["c2st_accuracy"], results["c2st_accuracy_se"] = classifier.accuracy, classifier.accuracy_se
    results["c2st_p_value"], results["c2st_n_test"] = classifier.p_value, classifier.n_test

    m = min(PRDC_POINTS, samples.shape[0])
    scores, floor = prdc(real_a[:m], samples[:m]), prdc(real_a[:m], real_b[:m])
    for name in PRDC_NAMES:
        results[name], results[f"{name}_se"] = getattr(scores, name), getattr(scores, f"{name}_se")
        results[f"{name}_floor"] = getattr(floor, name)
    results["prdc_n"], results["prdc_k"] = m, scores.k
    return results


PRDC_NAMES = ("precision", "recall", "density", "coverage")


def _dimension(event_shape: tuple[int, ...]) -> int:
    return math.prod(event_shape)
