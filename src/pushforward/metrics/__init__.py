"""Honest measures of a generative model: likelihoods and two-sample statistics."""

from pushforward.metrics.two_sample import energy_distance

__all__ = ["energy_distance"]
