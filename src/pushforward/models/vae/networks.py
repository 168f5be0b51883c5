"""Encoder and decoder networks, built by factories so convolutional versions slot in later.

An *encoder factory* is called as ``factory(event_shape, out_features)`` and returns a module
``(n, *event_shape) → (n, out_features)``; a *decoder factory* as
``factory(latent_features, out_shape)`` returning ``(n, latent_features) → (n, *out_shape)``.
The MLP versions below flatten and reshape, so they take any event shape; an image VAE passes
conv/deconv factories instead and nothing else changes.

Both MLPs can see random Fourier features of their input (Tancik et al., "Fourier Features Let
Networks Learn High Frequency Functions in Low Dimensional Domains", NeurIPS 2020): a decoder
must turn a smooth latent space into a density with sharp edges (the checkerboard's squares),
which a plain MLP on raw z only approximates with blurred borders.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn

from pushforward.nn.mlp import Activation, FourierMLP

EncoderFactory = Callable[[tuple[int, ...], int], nn.Module]
DecoderFactory = Callable[[int, tuple[int, ...]], nn.Module]


class FlatEncoder(FourierMLP):
    """An MLP on the flattened x, optionally on ``fourier_features`` random Fourier features of
    bandwidth ``fourier_scale`` besides x (see :class:`~pushforward.nn.embeddings.FourierFeatures`)."""

    def __init__(
        self,
        event_shape: tuple[int, ...],
        out_features: int,
        hidden: int,
        layers: int,
        activation: Activation,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
    ) -> None:
        super().__init__(math.prod(event_shape), out_features, hidden, layers, activation, fourier_features, fourier_scale)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.flatten(1))


class FlatDecoder(FourierMLP):
    """An MLP on z (and optionally its random Fourier features, as :class:`FlatEncoder`),
    reshaped to ``out_shape``."""

    def __init__(
        self,
        latent_features: int,
        out_shape: tuple[int, ...],
        hidden: int,
        layers: int,
        activation: Activation,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
    ) -> None:
        super().__init__(latent_features, math.prod(out_shape), hidden, layers, activation, fourier_features, fourier_scale)
        self.out_shape = tuple(out_shape)

    def forward(self, z: Tensor) -> Tensor:
        return super().forward(z).view(z.shape[0], *self.out_shape)


def mlp_encoder(
    hidden_features: int, hidden_layers: int, activation: Activation, fourier_features: int = 0, fourier_scale: float = 1.0
) -> EncoderFactory:
    def build(event_shape: tuple[int, ...], out_features: int) -> nn.Module:
        return FlatEncoder(event_shape, out_features, hidden_features, hidden_layers, activation, fourier_features, fourier_scale)

    return build


def mlp_decoder(
    hidden_features: int, hidden_layers: int, activation: Activation, fourier_features: int = 0, fourier_scale: float = 1.0
) -> DecoderFactory:
    def build(latent_features: int, out_shape: tuple[int, ...]) -> nn.Module:
        return FlatDecoder(latent_features, out_shape, hidden_features, hidden_layers, activation, fourier_features, fourier_scale)

    return build
