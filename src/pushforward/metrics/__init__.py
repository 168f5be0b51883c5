"""Honest measures of a generative model: likelihoods, two-sample tests, fidelity and diversity.

Stable names: ``energy_distance(x, y)`` (the statistic), ``energy_test`` and ``mmd_test``
(statistic and permutation p-value), ``mmd``, ``c2st`` (classifier two-sample test: held-out
accuracy and binomial p-value), ``prdc`` (precision, recall, density, coverage); and
``compute(name, x, y, **options)`` to call one of them by name.
"""

from typing import Any

from pushforward.metrics.classifier import C2STResult, c2st
from pushforward.metrics.coverage import PRDCResult, prdc
from pushforward.metrics.likelihood import NLLSummary, nll_summary
from pushforward.metrics.two_sample import (
    MULTISCALE_FACTORS,
    TestResult,
    energy_distance,
    energy_test,
    kernel_bandwidths,
    median_bandwidth,
    mmd,
    mmd_test,
)

_BY_NAME = {
    "energy_distance": energy_distance,
    "energy_test": energy_test,
    "mmd": mmd,
    "mmd_test": mmd_test,
    "c2st": c2st,
    "prdc": prdc,
}


def compute(name: str, x: Any, y: Any, **options: Any) -> Any:
    """The sample metric called ``name`` (energy_distance, energy_test, mmd, mmd_test, c2st,
    prdc) of samples ``x`` and ``y``; an unknown name is a :class:`UserError` with a suggestion."""
    from pushforward.errors import UserError, suggest

    if name not in _BY_NAME:
        raise UserError(f"unknown metric '{name}'", suggest(str(name), sorted(_BY_NAME)))
    return _BY_NAME[name](x, y, **options)


__all__ = [
    "C2STResult",
    "MULTISCALE_FACTORS",
    "NLLSummary",
    "PRDCResult",
    "TestResult",
    "c2st",
    "compute",
    "energy_distance",
    "energy_test",
    "kernel_bandwidths",
    "median_bandwidth",
    "mmd",
    "mmd_test",
    "nll_summary",
    "prdc",
]
