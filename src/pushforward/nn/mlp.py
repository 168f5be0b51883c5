"""A plain multilayer perceptron, the default network inside conditioners and vector fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.errors import UserError
from pushforward.nn.embeddings import FourierFeatures
from pushforward.nn.tanh import tanh_

Activation = Literal["relu", "gelu", "silu", "tanh", "elu"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
}


def activation_module(name: str, after_linear: bool = False) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`).

    ``after_linear=True`` promises the input is a linear layer's fresh output that nothing else
    reads; ReLU then works in place, saving one large allocation per layer (its backward needs
    only its output, and a linear layer's backward only its input, so autograd stays exact).
    """
    if name not in ACTIVATIONS:
        raise UserError(f"unknown activation '{name}'", f"use one of: {', '.join(ACTIVATIONS)}")
    if name == "relu" and after_linear:
        return nn.ReLU(inplace=True)
    return ACTIVATIONS[name]()


# In-place versions of the activations, for inference: the input is a fresh matrix product
# that nothing else reads, so overwriting it saves one allocation and one pass over memory.
_IN_PLACE: dict[type[nn.Module], Callable[[Tensor], Tensor]] = {
    nn.SiLU: lambda h: F.silu(h, inplace=True),
    nn.ReLU: torch.relu_,
    nn.Tanh: tanh_,  # torch.tanh_, 2σ(2h) − 1 or numpy.tanh, whichever this CPU runs fastest
    nn.ELU: lambda h: F.elu(h, inplace=True),
}


def activate(activation: nn.Module, h: Tensor, in_place: bool) -> Tensor:
    """``activation(h)``, overwriting ``h`` when ``in_place`` and the activation has such a form.

    Only for ``h`` a fresh linear layer's output that nothing else reads, and ``in_place`` only
    without autograd (sampling): the values are the same either way. Activations built with
    settings other than their defaults (e.g. ELU's alpha) are not made here, so the in-place
    forms use the defaults.
    """
    if in_place and type(activation) in _IN_PLACE:
        return _IN_PLACE[type(activation)](h)
    return activation(h)


class MLP(nn.Sequential):
    """``in_features → hidden_layers × (Linear, activation) → Linear → out_features``.

    ``hidden_layers=0`` is a single affine map. ``zero_last=True`` zeroes the output layer's
    weight and bias so the network starts as the constant 0: a flow whose conditioner outputs
    zeros then starts as the identity map, which makes early training stable.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int,
        hidden_layers: int,
        activation: Activation = "relu",
        zero_last: bool = False,
    ) -> None:
        if hidden_layers < 0:
            raise ValueError(f"hidden_layers must be >= 0, not {hidden_layers}")
        sizes = [in_features] + [hidden_features] * hidden_layers + [out_features]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i > 0:
                layers.append(activation_module(activation, after_linear=True))
            layers.append(nn.Linear(fan_in, fan_out))
        super().__init__(*layers)
        self.in_features = in_features
        self.out_features = out_features
        if zero_last:
            last = layers[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)


class FourierMLP(nn.Module):
    """An :class:`MLP` on ``(n, in_features)`` inputs that also sees ``fourier_features`` random
    Fourier features of them at bandwidth ``fourier_scale`` (none by default).

    Tancik et al., "Fourier Features Let Networks Learn High Frequency Functions in Low
    Dimensional Domains", NeurIPS 2020: on low-dimensional inputs a plain MLP is biased towards
    smooth functions, and the sinusoids let it fit sharp ones (edges of a density's support,
    narrow modes). The base of the flows' conditioners, the VAE's encoder and decoder and the
    GAN's critic; subclasses only flatten and reshape.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int,
        hidden_layers: int,
        activation: Activation,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        zero_last: bool = False,
    ) -> None:
        super().__init__()
        self.features = FourierFeatures(in_features, fourier_features, fourier_scale)
        self.net = MLP(self.features.features, out_features, hidden_features, hidden_layers, activation, zero_last=zero_last)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.features(x))
