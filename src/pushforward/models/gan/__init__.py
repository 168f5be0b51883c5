"""Generative adversarial networks: networks → losses (pure functions) → the model.

Importing this package registers ``gan``, ``gan-minimax``, ``wgan`` and ``wgan-gp`` with
:mod:`pushforward.models.base`.
"""

from pushforward.models.gan.model import GAN, GANHyperparameters

__all__ = ["GAN", "GANHyperparameters"]
