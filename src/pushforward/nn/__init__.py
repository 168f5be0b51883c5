"""Networks shared by the model families."""

from pushforward.nn.made import MADE, MaskedLinear
from pushforward.nn.mlp import ACTIVATIONS, MLP, Activation, activation_module

__all__ = ["ACTIVATIONS", "MADE", "MLP", "Activation", "MaskedLinear", "activation_module"]
