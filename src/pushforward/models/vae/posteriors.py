"""Gaussian posteriors q(z|x) from the encoder's raw output, with exact log-densities.

Each posterior family says how many numbers per point the encoder must output
(``raw_features(latent)``) and turns that raw output into reparameterised draws
``z = mean + L·ε``, ε ~ N(0, I), together with the exact ``log q(z|x)``:

    log q(z|x) = log N(ε; 0, I) − log |det L|

so the ELBO, the IWAE bound and the importance-weighted log p(x) estimate stay exact bounds /
estimates whatever the family.

* :class:`DiagonalPosterior` — L = diag(exp(log_scale)) (Kingma & Welling, "Auto-Encoding
  Variational Bayes", ICLR 2014).
* :class:`FullCovariancePosterior` — L lower-triangular with a positive diagonal, a Cholesky
  factor of a full covariance (as in Kingma & Welling's full-covariance example, and
  Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling, "Improved Variational Inference with
  Inverse Autoregressive Flow", NeurIPS 2016, §3, whose IAF generalises it). The true
  posterior of a Gaussian decoder with small noise σ is close to N(·, σ²(JᵀJ)⁻¹), J the
  decoder's Jacobian: correlated, which a diagonal q cannot fit, so with a diagonal q the ELBO
  pays for small σ with a looser bound. A d-dimensional latent costs d(d−1)/2 more outputs.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from pushforward.models.vae.bounds import standard_normal_log_prob


class GaussianPosterior(abc.ABC):
    """q(z|x) = N(mean, L Lᵀ) parameterised by the encoder's raw output ``(n, raw_features)``."""

    @staticmethod
    @abc.abstractmethod
    def raw_features(latent_features: int) -> int:
        """How many encoder outputs per point a ``latent_features``-dimensional q needs."""

    @abc.abstractmethod
    def mean(self, raw: Tensor) -> Tensor:
        """The posterior mean, ``(n, latent)``."""

    @abc.abstractmethod
    def transform(self, raw: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, log|det L|)``: z = mean + L·ε for ``noise`` ε of shape ``(k, n, latent)``,
        ``z`` shaped like ``noise`` and the log-determinant ``(n,)``."""

    def rsample(self, raw: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised draws and their exact log-density: ``(z, log q(z|x))``, ``(k, n, latent)`` and ``(k, n)``."""
        z, log_det = self.transform(raw, noise)
        k, n, latent = noise.shape
        log_base = standard_normal_log_prob(noise.reshape(k * n, latent)).view(k, n)
        return z, log_base - log_det

    @abc.abstractmethod
    def log_prob(self, raw: Tensor, z: Tensor) -> Tensor:
        """log q(z|x) of given points ``z`` ``(n, latent)`` (one per raw row), ``(n,)``."""


class DiagonalPosterior(GaussianPosterior):
    """N(mean, diag exp(2·log_scale)); raw = ``[mean, log_scale]``."""

    @staticmethod
    def raw_features(latent_features: int) -> int:
        return 2 * latent_features

    def mean(self, raw: Tensor) -> Tensor:
        return raw.chunk(2, dim=1)[0]

    def transform(self, raw: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_scale = raw.chunk(2, dim=1)
        return mean + log_scale.exp() * noise, log_scale.sum(dim=1)

    def log_prob(self, raw: Tensor, z: Tensor) -> Tensor:
        mean, log_scale = raw.chunk(2, dim=1)
        return standard_normal_log_prob((z - mean) * torch.exp(-log_scale)) - log_scale.sum(dim=1)


def cholesky_from_raw(log_diagonal: Tensor, strict_lower: Tensor) -> Tensor:
    """Lower-triangular ``(n, d, d)`` with diagonal ``exp(log_diagonal)`` ``(n, d)`` and the
    entries below it, row by row, from ``strict_lower`` ``(n, d(d−1)/2)``."""
    n, d = log_diagonal.shape
    rows, cols = torch.tril_indices(d, d, offset=-1, device=log_diagonal.device)
    factor = torch.diag_embed(log_diagonal.exp())
    # index_put rather than in-place assignment on a view, so autograd sees a fresh tensor.
    return factor.index_put((torch.arange(n, device=factor.device)[:, None], rows, cols), strict_lower)


class FullCovariancePosterior(GaussianPosterior):
    """N(mean, L Lᵀ) with L lower-triangular, diagonal exp(log_diagonal) > 0;
    raw = ``[mean, log_diagonal, strictly-lower entries of L]``."""

    @staticmethod
    def raw_features(latent_features: int) -> int:
        d = latent_features
        return 2 * d + d * (d - 1) // 2

    @staticmethod
    def split(raw: Tensor, latent_features: int) -> tuple[Tensor, Tensor, Tensor]:
        d = latent_features
        return raw[:, :d], raw[:, d : 2 * d], raw[:, 2 * d :]

    @staticmethod
    def latent_of(raw: Tensor) -> int:
        """d from the raw width 2d + d(d−1)/2 = d(d+3)/2."""
        width = raw.shape[1]
        d = int(round((-3 + (9 + 8 * width) ** 0.5) / 2))
        if d * (d + 3) // 2 != width:
            raise ValueError(f"{width} raw features do not parameterise a full-covariance Gaussian")
        return d

    def mean(self, raw: Tensor) -> Tensor:
        return raw[:, : self.latent_of(raw)]

    def transform(self, raw: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_diagonal, strict_lower = self.split(raw, self.latent_of(raw))
        factor = cholesky_from_raw(log_diagonal, strict_lower)
        # (k, n, d): z_kn = mean_n + L_n ε_kn
        z = mean + torch.einsum("nij,knj->kni", factor, noise)
        return z, log_diagonal.sum(dim=1)

    def log_prob(self, raw: Tensor, z: Tensor) -> Tensor:
        mean, log_diagonal, strict_lower = self.split(raw, self.latent_of(raw))
        factor = cholesky_from_raw(log_diagonal, strict_lower)
        noise = torch.linalg.solve_triangular(factor, (z - mean).unsqueeze(-1), upper=False).squeeze(-1)
        return standard_normal_log_prob(noise) - log_diagonal.sum(dim=1)


POSTERIORS: dict[str, type[GaussianPosterior]] = {"diagonal": DiagonalPosterior, "full": FullCovariancePosterior}


def make_posterior(kind: str) -> GaussianPosterior:
    return POSTERIORS[kind]()
