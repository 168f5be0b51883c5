"""Evaluating a fitted model on its held-out data: likelihood and sample quality."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch

from pushforward.errors import UserError
from pushforward.metrics.two_sample import energy_distance

if TYPE_CHECKING:
    from pushforward.api import FittedModel


def evaluate_model(fitted: FittedModel, *, n: int, seed: int) -> dict[str, Any]:
    """Test NLL (nats) and KL gap where known; energy distance with its noise floor.

    * ``test_nll``: mean −log p over the whole test split, in nats of the data's units, with its
      standard error; ``test_nll_kind`` says whether it is exact, an estimate or a bound. For
      an estimate it is also given as ``test_nll_estimate``, with ``test_nll_estimate_samples``
      the number of samples (K) the model's estimator used.
    * ``kl_gap``: test NLL minus the true entropy (toy data only) = KL(p_data ‖ p_model) ≥ 0,
      up to the test set's sampling error.
    * ``energy_distance``: between ``n`` model samples and ``n`` held-out points;
      ``energy_floor``: the same statistic between two independent real samples of size ``n``,
      so ``energy_ratio`` near 1 means the samples cannot be told from real ones at this size.
    """
    if n < 2:
        raise UserError(f"--n is {n}", "evaluate with at least 2 samples (default 10000)")
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
        finite = torch.isfinite(log_prob)
        results["test_points"] = int(log_prob.numel())
        if not finite.all():
            results["nonfinite_log_prob"] = int((~finite).sum())
        nll = float(-log_prob.mean())
        se = float(log_prob.std() / math.sqrt(log_prob.numel())) if finite.all() else math.nan
        results["test_nll"], results["test_nll_se"] = nll, se
        results["test_bits_per_dim"] = nll / (math.log(2) * _dimension(fitted.event_shape))
        if kind == "estimate":
            # Name the number for what it is, with the sample count it rests on.
            results["test_nll_estimate"] = nll
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

    # Two real samples of one size: the held-out test points, and either fresh toy points or
    # the other half of the test split. Model samples are compared with the first of them.
    if toy is not None:
        size = min(n, dataset.test.shape[0])
        real_a = dataset.test[:size]
        real_b = dataset.fresh_real_samples(size, seed=seed + 7)
    else:
        size = min(n, dataset.test.shape[0] // 2)
        if size < 2:
            raise UserError("the test split is too small for sample metrics", "fit on more data")
        real_a, real_b = dataset.test[:size], dataset.test[size : 2 * size]
    started = time.perf_counter()
    samples = fitted.sample_tensor(size, seed=seed)
    results["sample_seconds"] = round(time.perf_counter() - started, 4)
    if counts_nfe:
        results["nfe_sample"] = fitted.model.nfe_sample.per_solve()
    results["n"] = size
    finite_rows = torch.isfinite(samples.reshape(size, -1)).all(dim=1)
    if not finite_rows.all():
        results["nonfinite_samples"] = int((~finite_rows).sum())
        results["energy_distance"] = None
    else:
        results["energy_distance"] = energy_distance(samples, real_a)
    results["energy_floor"] = energy_distance(real_b, real_a)
    if results["energy_distance"] is not None and results["energy_floor"] > 0:
        results["energy_ratio"] = results["energy_distance"] / results["energy_floor"]
    if toy is not None and toy.bounded_support and finite_rows.all():
        results["outside_support"] = float((~toy.support_contains(samples)).double().mean())
    return results


def _dimension(event_shape: tuple[int, ...]) -> int:
    return math.prod(event_shape)
