"""A Gaussian decoder's reconstruction precision spread evenly over the data's values.

Why: with a learned, heteroscedastic σ, the gradient that reaches each value's mean is
(x − μ)/σ². The value the decoder learns first gets a small σ and, through it, a gradient that
dominates the layers all values share; a value still explained as noise (σ ≈ 1, the data's
scale) learns hundreds of times slower. On the checkerboard one coordinate is then decoded as
noise for the first few hundred steps, and if the KL weight grows while it is, the latent
direction that should encode it goes to the prior for good (posterior collapse): with a
standard-normal prior, 3 of 20 seeds at 2,500 steps (see BENCHMARKS.md). That σ decides which
directions collapse is the linear analysis of Lucas, Tucker, Grosse and Norouzi, "Don't Blame
the ELBO! A Linear VAE Perspective on Posterior Collapse", NeurIPS 2019; that a learned σ
starves the values it fits worst is that of Seitzer, Tavakoli, Antic and Martius, "On the
Pitfalls of Heteroscedastic Uncertainty Estimation with Probabilistic Neural Networks",
ICLR 2022, whose β-NLL weights each value's term by σ^{2β} with the gradient stopped.

Here the weights are σ^{2γ} normalised so that the total precision Σ w/σ² over the batch stays
Σ 1/σ²: the reconstruction keeps the pull it has against the KL term, and only its division
among the values changes. γ = 1 gives every value the batch's mean precision; γ = 0 gives
weights of exactly 1, the Gaussian log-likelihood itself. The VAE takes γ from 1 to 0 over its KL
warm-up, so the objective after the warm-up is the ELBO unchanged
(:meth:`~pushforward.models.vae.model.VAE.reconstruction_evenness`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pushforward.models.vae.bounds import normal_log_density_per_value


def even_precision_weights(log_scale: Tensor, evenness: float) -> Tensor:
    """Weights w = σ^{2γ} · mean(σ⁻²) / mean(σ^{2γ−2}) per value, γ = ``evenness`` ∈ [0, 1],
    means over every value of the batch; no gradient flows through them.

    So w/σ² = σ^{2γ−2} · mean(σ⁻²) / mean(σ^{2γ−2}): at γ = 1 the batch's mean precision for
    every value, at γ = 0 the value's own precision (w = 1).
    """
    if not 0.0 <= evenness <= 1.0:
        raise ValueError(f"evenness must lie in [0, 1], not {evenness}")
    with torch.no_grad():
        log_variance = 2.0 * log_scale.detach()
        mean_precision = torch.exp(-log_variance).mean()
        mean_tilted_precision = torch.exp((evenness - 1.0) * log_variance).mean()
        return torch.exp(evenness * log_variance) * (mean_precision / mean_tilted_precision)


def balanced_normal_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor, evenness: float) -> Tensor:
    """Σ_values w · log N(x; mean, σ²) per row, ``(n,)``, with :func:`even_precision_weights`.

    Not a log-density for γ > 0: a training objective whose gradients give each value an even
    share of the reconstruction's precision. Each value's σ still moves towards its own
    error (w ≥ 0 scales the σ-gradient, and the stationary point σ² = (x − μ)² stays).
    """
    per_value = normal_log_density_per_value(x, mean, log_scale)
    return (even_precision_weights(log_scale, evenness) * per_value).flatten(1).sum(dim=1)
