"""The generator and the critic of a GAN, and the operations on their weights.

A GAN needs two networks: a generator g: z ↦ x pushing latent noise onto events of shape
``event_shape``, and a critic (discriminator) scoring events. Both are built by a factory
keyed by ``architecture`` so that convolutional ones (DCGAN: Radford, Metz, Chintala,
"Unsupervised representation learning with deep convolutional generative adversarial
networks", ICLR 2016) can be added beside the multilayer perceptrons without touching the model.

The critic sees ``pack`` events at once (PacGAN: Z. Lin, A. Khetan, G. Fanti, S. Oh, "PacGAN:
The power of two samples in generative adversarial networks", NeurIPS 2018): :func:`pack_events`
stacks them along the first event axis (features for vectors, channels for images), so a
packed critic is an ordinary critic for events with ``pack`` times as many features.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pushforward.errors import UserError
from pushforward.nn.mlp import MLP, Activation, FourierMLP


class MLPGenerator(nn.Module):
    """z ∈ R^latent ↦ an event of shape ``event_shape`` through an MLP (events are flattened)."""

    def __init__(
        self, latent_features: int, event_shape: tuple[int, ...], hidden_features: int, hidden_layers: int, activation: Activation
    ) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.net = MLP(latent_features, math.prod(event_shape), hidden_features, hidden_layers, activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).reshape(z.shape[0], *self.event_shape)


class MLPCritic(FourierMLP):
    """An event of shape ``event_shape`` (flattened) ↦ one real score.

    With ``fourier > 0`` the flattened event first goes through that many random Fourier
    features of frequency scale ``fourier_scale`` (:class:`~pushforward.nn.embeddings.FourierFeatures`),
    so the critic can tell apart details much finer than the data's spread — a sample 3σ off a
    narrow mode, or just across a sharp edge — early in training.
    """

    def __init__(
        self,
        event_shape: tuple[int, ...],
        hidden_features: int,
        hidden_layers: int,
        activation: Activation,
        fourier: int = 0,
        fourier_scale: float = 1.0,
    ) -> None:
        super().__init__(math.prod(event_shape), 1, hidden_features, hidden_layers, activation, fourier, fourier_scale)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(x.shape[0], -1)).squeeze(-1)


ARCHITECTURES = ("mlp",)


def make_generator(
    architecture: str, latent_features: int, event_shape: tuple[int, ...], hidden_features: int, hidden_layers: int, activation: Activation
) -> nn.Module:
    if architecture == "mlp":
        return MLPGenerator(latent_features, event_shape, hidden_features, hidden_layers, activation)
    raise UserError(f"unknown GAN architecture '{architecture}'", f"use one of: {', '.join(ARCHITECTURES)}")


def make_critic(
    architecture: str,
    event_shape: tuple[int, ...],
    hidden_features: int,
    hidden_layers: int,
    activation: Activation,
    fourier: int = 0,
    fourier_scale: float = 1.0,
) -> nn.Module:
    """A critic for events of shape ``event_shape`` (already packed: see :func:`packed_shape`)."""
    if architecture == "mlp":
        return MLPCritic(event_shape, hidden_features, hidden_layers, activation, fourier, fourier_scale)
    raise UserError(f"unknown GAN architecture '{architecture}'", f"use one of: {', '.join(ARCHITECTURES)}")


def packed_shape(event_shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape of ``pack`` events stacked along the first event axis."""
    return (event_shape[0] * pack, *event_shape[1:])


def pack_events(x: Tensor, pack: int) -> Tensor:
    """(n, c, ...) → (n // pack, pack·c, ...): consecutive groups of ``pack`` events side by side.

    Rows beyond the last full group are dropped (at most ``pack − 1``).
    """
    if pack == 1:
        return x
    n = (x.shape[0] // pack) * pack
    if n == 0:
        raise UserError(f"a batch of {x.shape[0]} events cannot be packed by {pack}", f"use a batch_size of at least {pack}")
    grouped = x[:n].reshape(n // pack, pack, *x.shape[1:])
    return grouped.reshape(n // pack, pack * x.shape[1], *x.shape[2:])


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation of every linear and convolutional layer of ``module`` (in place).

    T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida, "Spectral normalization for generative
    adversarial networks", ICLR 2018: each weight is divided by an estimate of its largest
    singular value (one power iteration per training forward pass), which bounds the
    critic's Lipschitz constant by the product of its activations' (1 for ReLU).
    """
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            add_spectral_norm(child)
    return module


@torch.no_grad()
def clip_weights_(module: nn.Module, bound: float) -> None:
    """Clamp every parameter of ``module`` into [−bound, bound] (in place).

    The crude Lipschitz constraint of WGAN (M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein
    generative adversarial networks", ICML 2017, Algorithm 1): the critic's weights live in a
    compact set, so the critic is K-Lipschitz for some K that depends only on the bound.
    """
    for parameter in module.parameters():
        parameter.clamp_(-bound, bound)
