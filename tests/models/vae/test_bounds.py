"""The bound kernels: the importance-weighted bound, its chunked accumulation, Gaussian log-densities."""

from __future__ import annotations

import math

import torch

from pushforward.models.vae.bounds import (
    RunningLogMeanExp,
    beta_elbo,
    diagonal_normal_log_prob,
    importance_weighted_bound,
    standard_normal_log_prob,
)


def test_importance_weighted_bound_is_the_log_of_the_mean_weight():
    log_w = torch.randn(7, 5, dtype=torch.float64) * 3
    expected = torch.log(torch.exp(log_w).mean(dim=0))
    torch.testing.assert_close(importance_weighted_bound(log_w), expected)
    # Stable where exp overflows: shifting every log-weight shifts the bound by the same amount.
    torch.testing.assert_close(importance_weighted_bound(log_w + 1000.0), expected + 1000.0)


def test_running_accumulation_over_chunks_equals_one_shot():
    log_w = torch.randn(100, 4, dtype=torch.float64) * 5
    running = RunningLogMeanExp()
    for part in log_w.split(13):
        running.add(part)
    torch.testing.assert_close(running.value(), importance_weighted_bound(log_w))


def test_gaussian_log_densities_match_torch_distributions():
    x = torch.randn(6, 3, dtype=torch.float64)
    mean, log_scale = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64) * 0.3
    reference = torch.distributions.Normal(mean, log_scale.exp()).log_prob(x).sum(dim=1)
    torch.testing.assert_close(diagonal_normal_log_prob(x, mean, log_scale), reference)
    torch.testing.assert_close(standard_normal_log_prob(x), -0.5 * x.square().sum(1) - 1.5 * math.log(2 * math.pi))


def test_beta_weights_only_the_kl_term():
    ll, lp, lq = torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-0.5])
    assert float(beta_elbo(ll, lp, lq, 1.0)) == -1.0 + (-2.0 + 0.5)
    assert float(beta_elbo(ll, lp, lq, 0.0)) == -1.0
