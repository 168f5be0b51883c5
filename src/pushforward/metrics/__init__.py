"""Honest measures of a generative model: likelihoods, two-sample tests, fidelity and diversity.

Stable names: ``energy_distance(x, y)`` (the statistic), ``energy_test`` and ``mmd_test``
(statistic and permutation p-value), ``mmd``, ``c2st`` (classifier two-sample test: held-out
accuracy and binomial p-value), ``prdc`` (precision, recall, density, coverage).
"""

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

__all__ = [
    "C2STResult",
    "MULTISCALE_FACTORS",
    "NLLSummary",
    "PRDCResult",
    "TestResult",
    "c2st",
    "energy_distance",
    "energy_test",
    "kernel_bandwidths",
    "median_bandwidth",
    "mmd",
    "mmd_test",
    "nll_summary",
    "prdc",
]
