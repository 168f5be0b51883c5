"""Decoder likelihoods p(x|z): how a decoder's raw output becomes a distribution over x.

A likelihood says how many numbers per data value it needs (``parameters_per_value``); the
decoder outputs ``(n, P·c, *rest)`` for events ``(c, *rest)`` (channels first, so a
convolutional decoder for images fits the same slot) and the likelihood splits it along axis 1.

* :class:`GaussianLikelihood` — continuous data: a mean and a *learned, heteroscedastic*
  standard deviation per value (it depends on z), floored at ``min_scale`` so the density stays
  bounded (a Gaussian decoder whose variance may go to zero has an unbounded likelihood:
  Mattei & Frellsen, "Leveraging the Exact Likelihood of Deep Latent Variable Models",
  NeurIPS 2018), times one scale ``exp(log_noise_scale)`` chosen on held-out data when
  training ends (:mod:`~pushforward.models.vae.calibration`; 1 until then).
* :class:`BernoulliLikelihood` — binary data in {0, 1}: logits.
"""

from __future__ import annotations

import abc
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.models.vae.balance import balanced_normal_log_prob
from pushforward.models.vae.bounds import diagonal_normal_log_prob


class DecoderLikelihood(nn.Module, abc.ABC):
    """A module so that what a likelihood learns after training (a Gaussian's noise scale) is
    saved with the VAE's weights; it has no trained parameters."""

    parameters_per_value: int = 1

    @abc.abstractmethod
    def log_prob(self, x: Tensor, raw: Tensor) -> Tensor:
        """log p(x|z) summed over the event, ``(n,)``, from the decoder's raw output."""

    @abc.abstractmethod
    def sample(self, raw: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x ~ p(x|z)."""

    @abc.abstractmethod
    def mean(self, raw: Tensor) -> Tensor:
        """E[x|z] (the "decoder mean"; not a sample of the model)."""


class GaussianLikelihood(DecoderLikelihood):
    """N(x; μ(z), diag σ(z)²) with ``σ = c·(min_scale + softplus(raw))``, c = exp(log_noise_scale)
    (c ≥ 1/16 where the calibration sets it, so σ keeps a positive floor)."""

    parameters_per_value = 2

    def __init__(self, min_scale: float = 1e-3) -> None:
        super().__init__()
        self.min_scale = float(min_scale)
        # log c: 0 while training; set by VAE.finish_training (decoder-noise calibration).
        self.register_buffer("log_noise_scale", torch.zeros(()))
        # How many validation points chose it (0: not calibrated), for eval to report.
        self.register_buffer("noise_scale_points", torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # Weights saved before the calibration existed have none: their σ stays as trained.
        state_dict.setdefault(prefix + "log_noise_scale", torch.zeros(()))
        state_dict.setdefault(prefix + "noise_scale_points", torch.zeros((), dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]

    def split_uncalibrated(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, log σ)`` as the decoder's network gives them, before the noise scale."""
        mean, pre_scale = raw.chunk(2, dim=1)
        return mean, torch.log(self.min_scale + F.softplus(pre_scale))

    def split(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, log σ)`` from the raw output, with the calibrated noise scale."""
        mean, log_scale = self.split_uncalibrated(raw)
        return mean, log_scale + self.log_noise_scale

    def raw_scale(self, scale: float) -> float:
        """The raw value giving standard deviation ``scale`` (inverse of the map above)."""
        excess = scale - self.min_scale
        if excess <= 0:
            raise ValueError(f"scale {scale} is not above min_scale {self.min_scale}")
        return excess + math.log(-math.expm1(-excess))  # softplus⁻¹, stable for small and large

    def log_prob(self, x: Tensor, raw: Tensor) -> Tensor:
        mean, log_scale = self.split(raw)
        return diagonal_normal_log_prob(x, mean, log_scale)

    def balanced_log_prob(self, x: Tensor, raw: Tensor, evenness: float) -> Tensor:
        """The training objective's reconstruction term with its precision spread evenly over
        the values (:mod:`~pushforward.models.vae.balance`); :meth:`log_prob` at ``evenness`` 0."""
        mean, log_scale = self.split(raw)
        return balanced_normal_log_prob(x, mean, log_scale, evenness)

    def sample(self, raw: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean, log_scale = self.split(raw)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + log_scale.exp() * noise

    def mean(self, raw: Tensor) -> Tensor:
        return self.split(raw)[0]


class BernoulliLikelihood(DecoderLikelihood):
    """Independent Bernoulli(sigmoid(logit)) per value, for data in {0, 1}."""

    parameters_per_value = 1

    def log_prob(self, x: Tensor, raw: Tensor) -> Tensor:
        return -F.binary_cross_entropy_with_logits(raw, x, reduction="none").flatten(1).sum(dim=1)

    def sample(self, raw: Tensor, generator: torch.Generator | None = None) -> Tensor:
        uniform = torch.rand(raw.shape, generator=generator, device=raw.device, dtype=raw.dtype)
        return (uniform < torch.sigmoid(raw)).to(raw.dtype)

    def mean(self, raw: Tensor) -> Tensor:
        return torch.sigmoid(raw)


def make_likelihood(kind: str, min_scale: float) -> DecoderLikelihood:
    return GaussianLikelihood(min_scale) if kind == "gaussian" else BernoulliLikelihood()
