"""Networks that turn the untouched part of an input into a layer's parameters.

A conditioner factory is called as ``factory(in_shape, out_shape)`` and returns a module mapping
``(n, *in_shape)`` to ``(n, *out_shape)``. Output layouts are ``(features · P, *positions)`` so a
convolutional network over images fits the same slot. Factories zero-initialise the output layer:
zero parameters are the identity for every kernel, so a fresh flow starts as the identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from pushforward.nn.mlp import Activation, FourierMLP

ConditionerFactory = Callable[[tuple[int, ...], tuple[int, ...]], nn.Module]


class FlatMLP(FourierMLP):
    """An MLP on the flattened input, reshaped to ``out_shape``: works for any event shape.

    With ``fourier_features > 0`` the MLP also sees that many random Fourier features of its
    input at bandwidth ``fourier_scale`` (Tancik et al., "Fourier Features Let Networks Learn
    High Frequency Functions in Low Dimensional Domains", NeurIPS 2020): a 2-D coupling's
    conditioner sees a single coordinate and must output spline parameters that jump where the
    data's conditional density does (the checkerboard's columns), which a ReLU MLP on the raw
    coordinate only learns as slowly sharpening ramps.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        hidden_features: int,
        hidden_layers: int,
        activation: Activation = "relu",
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
    ) -> None:
        super().__init__(
            math.prod(in_shape),
            math.prod(out_shape),
            hidden_features,
            hidden_layers,
            activation,
            fourier_features,
            fourier_scale,
            zero_last=True,
        )
        self.out_shape = tuple(out_shape)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.flatten(1)).view(x.shape[0], *self.out_shape)


class Unconditional(nn.Module):
    """Learned parameters that ignore the input: for a coupling whose identity part is empty."""

    def __init__(self, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(out_shape))

    def forward(self, x: Tensor) -> Tensor:
        return self.value.expand(x.shape[0], *self.value.shape)


def mlp_conditioner(
    hidden_features: int = 64,
    hidden_layers: int = 2,
    activation: Activation = "relu",
    fourier_features: int = 0,
    fourier_scale: float = 1.0,
) -> ConditionerFactory:
    """A factory of :class:`FlatMLP` conditioners with the given sizes (and Fourier features)."""

    def build(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> nn.Module:
        return FlatMLP(in_shape, out_shape, hidden_features, hidden_layers, activation, fourier_features, fourier_scale)

    return build
