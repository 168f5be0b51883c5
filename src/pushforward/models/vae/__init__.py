"""Variational autoencoders: bounds (pure math) → likelihoods, priors, networks → the model.

Importing this package registers ``vae`` and ``iwae`` with :mod:`pushforward.models.base`.
"""

from pushforward.models.vae.likelihoods import BernoulliLikelihood, DecoderLikelihood, GaussianLikelihood
from pushforward.models.vae.model import IWAE, VAE, BetaVAE, VAEHyperparameters
from pushforward.models.vae.networks import mlp_decoder, mlp_encoder
from pushforward.models.vae.priors import MixturePrior, StandardNormalPrior

__all__ = [
    "IWAE",
    "VAE",
    "BernoulliLikelihood",
    "BetaVAE",
    "DecoderLikelihood",
    "GaussianLikelihood",
    "MixturePrior",
    "StandardNormalPrior",
    "VAEHyperparameters",
    "mlp_decoder",
    "mlp_encoder",
]
