"""Priors p(z) over the latent space: the fixed standard normal, or a learned Gaussian mixture.

A standard-normal prior leaves "holes": regions the prior covers but no encoded point uses,
which decode to points between the data's modes (the blur of VAE samples). A learned mixture
prior lets p(z) follow the aggregate posterior instead (Tomczak & Welling, "VAE with a
VampPrior", AISTATS 2018, who compare it with the mixture-of-Gaussians prior used here).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pushforward.models.vae.bounds import LOG_2PI, standard_normal_log_prob


class StandardNormalPrior(nn.Module):
    def __init__(self, latent_features: int) -> None:
        super().__init__()
        self.latent_features = latent_features

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
        return torch.randn((n, self.latent_features), generator=generator, device=device, dtype=dtype)


class MixturePrior(nn.Module):
    """Σ_k π_k N(z; μ_k, diag σ_k²) with learned weights, means and scales.

    The means start spread as a standard-normal sample and the scales at 1/√K-ish widths, so
    the mixture starts close to N(0, I) in spread.
    """

    def __init__(self, latent_features: int, components: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.latent_features = latent_features
        self.logits = nn.Parameter(torch.zeros(components))
        self.means = nn.Parameter(torch.randn(components, latent_features, generator=generator))
        self.log_scales = nn.Parameter(torch.full((components, latent_features), -0.5 * math.log(components) / latent_features))

    def log_prob(self, z: Tensor) -> Tensor:
        flat = z.reshape(-1, self.latent_features)
        scaled = (flat[:, None, :] - self.means) * torch.exp(-self.log_scales)
        per_component = (-0.5 * scaled.square() - self.log_scales - 0.5 * LOG_2PI).sum(dim=2)
        log_weights = torch.log_softmax(self.logits, dim=0)
        return torch.logsumexp(per_component + log_weights, dim=1).reshape(z.shape[:-1])

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
        probabilities = torch.softmax(self.logits.detach(), dim=0)
        index = torch.multinomial(probabilities, n, replacement=True, generator=generator)
        noise = torch.randn((n, self.latent_features), generator=generator, device=device, dtype=dtype)
        return self.means[index] + torch.exp(self.log_scales[index]) * noise
