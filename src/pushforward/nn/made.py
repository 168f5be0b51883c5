"""MADE: masked autoencoder for distribution estimation.

Germain, Gregor, Murray, Larochelle, "MADE: Masked Autoencoder for Distribution Estimation",
ICML 2015. Masks on the weights of an MLP make output ``i`` depend only on the inputs that come
before ``i`` in a chosen order, so one pass gives every conditional's parameters at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.nn.mlp import Activation, activation_module


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` of shape (out, in)."""

    def __init__(self, mask: Tensor, bias: bool = True) -> None:
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        # Saved with the weights so a loaded model keeps exactly the connectivity it was trained with.
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def input_degrees(order: Sequence[int] | Tensor) -> Tensor:
    """Degree (1-based position in the autoregressive order) of each input variable.

    ``order[k]`` is the variable generated k-th, so ``degree[order[k]] = k + 1``.
    """
    order = torch.as_tensor(order, dtype=torch.long)
    features = order.numel()
    if sorted(order.tolist()) != list(range(features)):
        raise ValueError(f"order must be a permutation of 0..{features - 1}, got {order.tolist()}")
    degrees = torch.empty(features, dtype=torch.long)
    degrees[order] = torch.arange(1, features + 1)
    return degrees


class MADE(nn.Module):
    """Maps ``(n, D)`` to ``(n, D, P)``: P parameters per variable, each depending only on earlier ones.

    Hidden units get degrees cycling through ``1 .. D-1`` (deterministic, so every dependency
    path exists once ``hidden_features >= D - 1``); a hidden unit of degree k sees inputs of
    degree <= k, and the parameters of a variable of degree d see hidden units of degree < d.
    The first variable in the order therefore gets input-independent parameters (the biases).
    """

    def __init__(
        self,
        features: int,
        params_per_feature: int,
        hidden_features: int,
        hidden_layers: int,
        order: Sequence[int] | Tensor | None = None,
        activation: Activation = "relu",
        zero_last: bool = False,
    ) -> None:
        super().__init__()
        if features < 1 or params_per_feature < 1 or hidden_features < 1 or hidden_layers < 0:
            raise ValueError("MADE needs features, params_per_feature, hidden_features >= 1 and hidden_layers >= 0")
        self.features = features
        self.params_per_feature = params_per_feature
        order = torch.arange(features) if order is None else torch.as_tensor(order, dtype=torch.long)
        degrees_in = input_degrees(order)
        self.register_buffer("order", order.clone())

        # Output unit j carries parameter j % P of variable j // P, so a reshape gives (n, D, P).
        degrees_out = degrees_in.repeat_interleave(params_per_feature)
        hidden_degrees = torch.arange(hidden_features) % max(1, features - 1) + 1

        layers: list[nn.Module] = []
        previous = degrees_in
        for i in range(hidden_layers):
            if i > 0:
                layers.append(activation_module(activation, after_linear=True))
            layers.append(MaskedLinear(hidden_degrees[:, None] >= previous[None, :]))
            previous = hidden_degrees
        if hidden_layers > 0:
            layers.append(activation_module(activation, after_linear=True))
        last = MaskedLinear(degrees_out[:, None] > previous[None, :])
        layers.append(last)
        if zero_last:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(x.shape[0], self.features, self.params_per_feature)
