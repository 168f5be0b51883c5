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
* :class:`FlowPosterior` — z = mean + L·f(ε), f a stack of rational-quadratic spline couplings
  (Durkan, Bekasov, Murray, Papamakarios, "Neural Spline Flows", NeurIPS 2019) acting on the
  standard-normal ε and conditioned on a context vector the encoder outputs for x: a flow
  posterior in the sense of Rezende & Mohamed ("Variational Inference with Normalizing Flows",
  ICML 2015) and Kingma et al.'s IAF above, able to fit the truncated or multimodal posteriors
  of a decoder with sharp edges. log q(z|x) = log N(ε) − log|det ∂f/∂ε| − log|det L|.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from pushforward.models.flows.kernels import rational_quadratic_spline
from pushforward.models.vae.bounds import standard_normal_log_prob
from pushforward.nn.mlp import MLP


class GaussianPosterior(nn.Module, abc.ABC):
    """q(z|x) = mean + L·(a bijection of ε), ε ~ N(0, I), parameterised by the encoder's raw
    output ``(n, raw_features)``. An ``nn.Module`` so a flow's networks are saved with the VAE;
    the Gaussian families have no parameters of their own (nothing in the state dict)."""

    def raw_features(self, latent_features: int) -> int:
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

    def raw_features(self, latent_features: int) -> int:
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

    def raw_features(self, latent_features: int) -> int:
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


class SplineCoupling(nn.Module):
    """ε_b ← spline(ε_b; net([ε_a, h])): half of ε transformed given the other half and the
    context h (with a 1-D latent, given h alone). Zero-initialised output: starts as the identity."""

    def __init__(self, latent_features: int, context: int, parity: int, bins: int, bound: float, hidden: int, layers: int) -> None:
        super().__init__()
        d = latent_features
        kept = 0 if d == 1 else (d // 2 if parity == 0 else d - d // 2)
        kept_index = torch.arange(kept) if parity == 0 else torch.arange(d - kept, d)
        changed_index = torch.tensor([i for i in range(d) if i not in set(kept_index.tolist())], dtype=torch.long)
        self.register_buffer("kept_index", kept_index, persistent=False)
        self.register_buffer("changed_index", changed_index, persistent=False)
        self.bins, self.bound = bins, bound
        self.net = MLP(kept + context, len(changed_index) * (3 * bins - 1), hidden, layers, "silu", zero_last=True)

    def forward(self, eps: Tensor, context: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        """``(f(ε) or f⁻¹(ε), log|d out / d in|)`` for ``eps`` ``(m, d)`` and ``context`` ``(m, C)``."""
        kept = eps[:, self.kept_index]
        params = self.net(torch.cat([kept, context], dim=1)).view(eps.shape[0], len(self.changed_index), 3 * self.bins - 1)
        widths, heights, derivatives = params.split((self.bins, self.bins, self.bins - 1), dim=-1)
        changed, log_derivative = rational_quadratic_spline(
            eps[:, self.changed_index], widths, heights, derivatives, bound=self.bound, inverse=inverse
        )
        out = eps.index_copy(1, self.changed_index, changed)
        return out, log_derivative.sum(dim=1)


class FlowPosterior(GaussianPosterior):
    """z = mean + L·f(ε; h): ``layers`` spline couplings f on ε conditioned on the context h;
    raw = ``[full-covariance Gaussian raw, h]`` with h of ``context`` features."""

    def __init__(self, latent_features: int, context: int = 16, layers: int = 2, bins: int = 8, bound: float = 4.0, hidden: int = 64) -> None:
        super().__init__()
        self.latent_features, self.context = latent_features, context
        self.gaussian = FullCovariancePosterior()
        self.couplings = nn.ModuleList(SplineCoupling(latent_features, context, i % 2, bins, bound, hidden, 2) for i in range(layers))

    def raw_features(self, latent_features: int) -> int:
        return self.gaussian.raw_features(latent_features) + self.context

    def _split(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        return raw[:, : -self.context], raw[:, -self.context :]

    def mean(self, raw: Tensor) -> Tensor:
        """The location of q (its mean before the flow; the flow starts as the identity)."""
        return self.gaussian.mean(self._split(raw)[0])

    def flow(self, eps: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        """``(f(ε), log|det ∂f/∂ε|)`` for ``eps`` ``(k, n, d)`` and ``context`` ``(n, C)``."""
        k, n, d = eps.shape
        flat = eps.reshape(k * n, d)
        repeated = context.unsqueeze(0).expand(k, n, context.shape[1]).reshape(k * n, -1)
        total = flat.new_zeros(k * n)
        for coupling in self.couplings:
            flat, log_det = coupling(flat, repeated)
            total = total + log_det
        return flat.view(k, n, d), total.view(k, n)

    def rsample(self, raw: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        gaussian_raw, context = self._split(raw)
        warped, log_det_flow = self.flow(noise, context)
        z, log_det_factor = self.gaussian.transform(gaussian_raw, warped)
        k, n, latent = noise.shape
        log_base = standard_normal_log_prob(noise.reshape(k * n, latent)).view(k, n)
        return z, log_base - log_det_flow - log_det_factor

    def transform(self, raw: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError("a flow posterior's log-determinant depends on the draw: use rsample")

    def log_prob(self, raw: Tensor, z: Tensor) -> Tensor:
        gaussian_raw, context = self._split(raw)
        mean, log_diagonal, strict_lower = self.gaussian.split(gaussian_raw, self.latent_features)
        factor = cholesky_from_raw(log_diagonal, strict_lower)
        warped = torch.linalg.solve_triangular(factor, (z - mean).unsqueeze(-1), upper=False).squeeze(-1)
        total = warped.new_zeros(warped.shape[0])
        for coupling in reversed(self.couplings):
            warped, log_det = coupling(warped, context, inverse=True)
            total = total + log_det
        return standard_normal_log_prob(warped) + total - log_diagonal.sum(dim=1)


POSTERIORS = ("diagonal", "full", "flow")


def make_posterior(kind: str, latent_features: int) -> GaussianPosterior:
    if kind == "flow":
        return FlowPosterior(latent_features)
    return {"diagonal": DiagonalPosterior, "full": FullCovariancePosterior}[kind]()
