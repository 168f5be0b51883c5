"""Encoder and decoder networks, built by factories so convolutional versions slot in later.

An *encoder factory* is called as ``factory(event_shape, out_features)`` and returns a module
``(n, *event_shape) → (n, out_features)``; a *decoder factory* as
``factory(latent_features, out_shape)`` returning ``(n, latent_features) → (n, *out_shape)``.
The MLP versions below flatten and reshape, so they take any event shape; an image VAE passes
conv/deconv factories instead and nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn

from pushforward.nn.mlp import MLP, Activation

EncoderFactory = Callable[[tuple[int, ...], int], nn.Module]
DecoderFactory = Callable[[int, tuple[int, ...]], nn.Module]


class FlatEncoder(nn.Module):
    def __init__(self, event_shape: tuple[int, ...], out_features: int, hidden: int, layers: int, activation: Activation) -> None:
        super().__init__()
        self.net = MLP(math.prod(event_shape), out_features, hidden, layers, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


class FlatDecoder(nn.Module):
    def __init__(self, latent_features: int, out_shape: tuple[int, ...], hidden: int, layers: int, activation: Activation) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = MLP(latent_features, math.prod(out_shape), hidden, layers, activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


def mlp_encoder(hidden_features: int, hidden_layers: int, activation: Activation) -> EncoderFactory:
    def build(event_shape: tuple[int, ...], out_features: int) -> nn.Module:
        return FlatEncoder(event_shape, out_features, hidden_features, hidden_layers, activation)

    return build


def mlp_decoder(hidden_features: int, hidden_layers: int, activation: Activation) -> DecoderFactory:
    def build(latent_features: int, out_shape: tuple[int, ...]) -> nn.Module:
        return FlatDecoder(latent_features, out_shape, hidden_features, hidden_layers, activation)

    return build
