"""Held-out likelihood in nats and in bits per dimension, labelled with what kind of number it is."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pushforward.device import widened

# What a model's log_prob is (models/base.py LikelihoodKind) and so what its NLL is.
NLL_LABELS = {
    "exact": "exact",
    "estimate": "estimate",  # e.g. an importance-weighted bound that tightens with more samples
    "bound": "upper bound",  # log_prob is an evidence lower bound, so −log_prob bounds the NLL above
}


@dataclass(frozen=True)
class NLLSummary:
    """Mean negative log-likelihood of a test set, its standard error, and its kind.

    ``nll`` is in nats of the data's units; ``bits_per_dim`` = nll / (D log 2) with D the
    number of values in one event. ``label`` is "exact", "estimate" or "upper bound".
    """

    nll: float
    nll_se: float
    bits_per_dim: float
    bits_per_dim_se: float
    label: str
    points: int
    nonfinite: int


def nll_summary(log_prob: Tensor, dimension: int, kind: str) -> NLLSummary:
    """Summarise per-point log-densities (nats) of held-out data.

    The standard error is the sample standard deviation of −log p over √n (the test points
    are independent draws). A non-finite log-density makes the mean −inf or +inf and the
    standard error NaN; ``nonfinite`` counts them so the caller can say so.
    """
    if kind not in NLL_LABELS:
        raise ValueError(f"no NLL for likelihood kind {kind!r}")
    log_prob = widened(log_prob).reshape(-1)
    finite = torch.isfinite(log_prob)
    nll = float(-log_prob.mean())
    se = float(log_prob.std() / math.sqrt(log_prob.numel())) if finite.all() and log_prob.numel() > 1 else math.nan
    per_dim = math.log(2) * dimension
    return NLLSummary(nll, se, nll / per_dim, se / per_dim, NLL_LABELS[kind], int(log_prob.numel()), int((~finite).sum()))
