"""Pure math of the variational bounds on log p(x), on tensors of log-weights.

With z_k ~ q(z|x) and log-weights ``log w_k = log p(x, z_k) − log q(z_k|x)``:

* the ELBO (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014) is E[log w];
  with β it is E[log p(x|z)] − β·KL (Higgins et al., "β-VAE", ICLR 2017);
* the importance-weighted bound (Burda, Grosse, Salakhutdinov, "Importance Weighted
  Autoencoders", ICLR 2016) is E[log (1/K) Σ_k w_k]; it is ≥ the ELBO, rises with K and tends
  to log p(x), and for a fixed K its sample value is the estimate of log p(x) the VAE reports.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pushforward.nn.logsumexp import logsumexp

LOG_2PI = math.log(2.0 * math.pi)


def normal_log_density_per_value(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log N(x; mean, exp(2·log_scale)) of each value, shaped like ``x``."""
    z = (x - mean) * torch.exp(-log_scale)
    return -0.5 * z.square() - log_scale - 0.5 * LOG_2PI


def diagonal_normal_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log N(x; mean, diag(exp(2·log_scale))) summed over every axis after the first."""
    return normal_log_density_per_value(x, mean, log_scale).flatten(1).sum(dim=1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over every axis after the first."""
    return (-0.5 * z.square() - 0.5 * LOG_2PI).flatten(1).sum(dim=1)


def beta_elbo(log_likelihood: Tensor, log_prior: Tensor, log_posterior: Tensor, beta: float = 1.0) -> Tensor:
    """Monte-Carlo β-ELBO per sample: ``log p(x|z) − β (log q(z|x) − log p(z))``."""
    return log_likelihood - beta * (log_posterior - log_prior)


def importance_weighted_bound(log_weights: Tensor, dim: int = 0) -> Tensor:
    """``log (1/K) Σ_k exp(log w_k)`` along ``dim`` (K = its size), computed stably."""
    return logsumexp(log_weights, dim=dim) - math.log(log_weights.shape[dim])


class RunningLogMeanExp:
    """log (1/K) Σ w_k accumulated over chunks of samples, so K can exceed what fits in memory."""

    def __init__(self) -> None:
        self.log_sum: Tensor | None = None
        self.count = 0

    def add(self, log_weights: Tensor) -> None:
        """Add a chunk of log-weights of shape ``(k, n)``."""
        chunk = logsumexp(log_weights, dim=0)
        self.log_sum = chunk if self.log_sum is None else torch.logaddexp(self.log_sum, chunk)
        self.count += log_weights.shape[0]

    def value(self) -> Tensor:
        if self.log_sum is None:
            raise ValueError("no log-weights were added")
        return self.log_sum - math.log(self.count)
