"""Honest measures of a generative model: likelihoods and two-sample statistics."""

from pushforward.metrics.two_sample import (
    TestResult,
    energy_distance,
    energy_test,
    median_bandwidth,
    mmd,
    mmd_test,
)

__all__ = ["TestResult", "energy_distance", "energy_test", "median_bandwidth", "mmd", "mmd_test"]
