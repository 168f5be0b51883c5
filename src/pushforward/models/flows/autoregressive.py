"""Masked autoregressive transforms.

Papamakarios, Pavlakou, Murray, "Masked Autoregressive Flow for Density Estimation", NeurIPS 2017;
the network is MADE (Germain et al., 2015). Each element of the flattened event is transformed
with parameters computed from the elements before it, so the density direction is one network
pass and sampling takes D passes, one per element.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from pushforward.models.flows.elementwise import ElementwiseKernel
from pushforward.models.flows.transforms import Transform
from pushforward.nn.made import MADE
from pushforward.nn.mlp import Activation


class MaskedAutoregressive(Transform):
    """``z_i = τ(x_i; θ_i(x_<i))`` over the flattened event, in the given ``order``.

    ``order[k]`` is the (flattened) element that comes k-th; ``reverse=True`` with no explicit
    order uses D-1, …, 0, which is how consecutive layers alternate.
    """

    def __init__(
        self,
        event_shape: tuple[int, ...],
        kernel: ElementwiseKernel,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        activation: Activation = "relu",
        order: Sequence[int] | Tensor | None = None,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.features = math.prod(event_shape)
        if order is None:
            order = torch.arange(self.features)
            if reverse:
                order = order.flip(0)
        # Zero output layer: zero parameters are the identity for every kernel.
        self.made = MADE(self.features, kernel.params, hidden_features, hidden_layers, order, activation, zero_last=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.reshape(x.shape[0], self.features)
        z, logabsdet = self.kernel(flat, self.made(flat))
        return z.view(x.shape), logabsdet.sum(dim=1)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        flat = z.reshape(z.shape[0], self.features)
        x = torch.zeros_like(flat)
        # Pass k fixes the k-th element of the order (its parameters see only elements already
        # fixed), so after D passes every element and every parameter is exact.
        for _ in range(self.features):
            x, logabsdet = self.kernel(flat, self.made(x), inverse=True)
        return x.view(z.shape), logabsdet.sum(dim=1)
