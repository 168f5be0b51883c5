"""A time-conditioned MLP ``(x, c) → output shaped like x`` for vectors: every hidden layer
receives the noise level or time ``c`` through an additive, learned bias computed from a
sinusoidal embedding of ``c``. The diffusion denoiser (``ddpm``) and the flow-matching
v-field (:class:`~pushforward.models.continuous.fields.VPredictionField`) are built on it.

Feeding c to every layer (rather than only concatenating it to the input) follows the time
conditioning of Ho, Jain, Abbeel's U-Net ("Denoising Diffusion Probabilistic Models", NeurIPS
2020), where each residual block adds a projection of the time embedding; here it also makes
sampling cheap: all points of a sampling step share c, so the time path runs once per step,
not once per point. Image models plug a U-Net with the same ``(x, c) → output shaped like x``
signature into the same slot.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.nn.embeddings import FourierFeatures, SinusoidalEmbedding
from pushforward.nn.mlp import Activation, activate, activation_module
from pushforward.nn.sinusoids import cos_, sin


class TimeConditionedMLP(nn.Module):
    def __init__(
        self,
        event_shape: tuple[int, ...],
        hidden_features: int,
        hidden_layers: int,
        embedding_features: int,
        activation: Activation = "silu",
        input_frequencies: int = 0,
        space_features: int = 0,
        space_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if hidden_layers < 1:
            raise ValueError(f"hidden_layers must be >= 1, not {hidden_layers}")
        features = math.prod(event_shape)
        self.input_frequencies = input_frequencies
        # Fourier features of x (Tancik et al., "Fourier Features Let Networks Learn High
        # Frequency Functions in Low Dimensional Domains", NeurIPS 2020): octaves of π/2, so
        # the sharp edges of a density are within an MLP's reach.
        self.register_buffer(
            "frequencies", (math.pi / 2) * 2.0 ** torch.arange(input_frequencies, dtype=torch.float32), persistent=False
        )
        # Random Fourier features of x (same paper, Gaussian projections): unlike the axis-aligned
        # octaves above they mix the coordinates, so edges in any direction are within reach.
        self.space = FourierFeatures(features * (1 + 2 * input_frequencies), space_features, space_scale)
        self.hidden_layers = hidden_layers
        # The noise level c spans a few units; frequencies from 10 down to 0.1 per unit resolve
        # it finely without turning it into noise (sin(1000 t) of a continuous t would be).
        self.embedding = SinusoidalEmbedding(embedding_features, max_period=100.0, scale=10.0)
        self.time = nn.Sequential(
            nn.Linear(embedding_features, hidden_features),
            activation_module(activation),
            nn.Linear(hidden_features, hidden_features * hidden_layers),
        )
        self.first = nn.Linear(self.space.features, hidden_features)
        self.hidden = nn.ModuleList(nn.Linear(hidden_features, hidden_features) for _ in range(hidden_layers - 1))
        self.last = nn.Linear(hidden_features, features)
        self.activations = nn.ModuleList(activation_module(activation) for _ in range(hidden_layers))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``x`` of shape ``(n, *event)``, ``t`` of shape ``(n,)`` or a 0-d time shared by all."""
        if t.numel() == 1:
            return self.at_time(t)(x)
        biases = self._time_biases_of_runs(t.reshape(-1).to(x.dtype))
        h = self._features(x)
        for layer, bias, activation in zip([self.first, *self.hidden], biases, self.activations):
            h = activation(layer(h) + bias)
        return self.last(h).view_as(x)

    def at_time(self, t: Tensor) -> Callable[[Tensor], Tensor]:
        """``x ↦ network(x, t)`` for one time ``t`` shared by the whole batch (sampling).

        The time path runs once, here, and its output is folded into each layer's bias, so
        the returned function costs one fused matrix product per layer (no extra pass over
        the ``(n, hidden)`` activations), however many chunks of points it is then called on.
        Without autograd the activations also run in place on the fresh products.
        """
        biases = self._time_biases(t.reshape(1))
        layers = [self.first, *self.hidden]
        folded = [layer.bias + bias[0] for layer, bias in zip(layers, biases)]

        def network_at_t(x: Tensor) -> Tensor:
            in_place = not torch.is_grad_enabled()
            if in_place and not self.input_frequencies and self.space.projection.shape[0]:
                h = self._first_layer_without_concatenation(x, folded[0])
            else:
                h = F.linear(self._features(x), self.first.weight, folded[0].to(x.dtype))
            h = activate(self.activations[0], h, in_place)
            for layer, bias, activation in zip(layers[1:], folded[1:], self.activations[1:]):
                h = F.linear(h, layer.weight, bias.to(h.dtype))
                h = activate(activation, h, in_place)
            return self.last(h).view_as(x)

        return network_at_t

    def _first_layer_without_concatenation(self, x: Tensor, bias: Tensor) -> Tensor:
        """The first layer on (x, sin θ, cos θ), θ = B x, as W_x x + W_s sin θ + W_c cos θ.

        Inference only (the cosine overwrites θ). Equal to the layer on the concatenated
        features, without writing that ``(n, d + 2F)`` copy: on the CPU the concatenation cost
        more than the two extra products (a 4,096-row chunk, 64 wide: 0.2 ms of about 1.1).
        """
        h = x.flatten(1)
        d, waves = h.shape[1], self.space.projection.shape[0]
        weight = self.first.weight.to(h.dtype)
        angles = h @ self.space.projection.to(h.dtype).T
        out = torch.addmm(bias.to(h.dtype), h, weight[:, :d].T)
        out.addmm_(sin(angles), weight[:, d : d + waves].T)
        return out.addmm_(cos_(angles), weight[:, d + waves :].T)

    def _time_biases_of_runs(self, t: Tensor) -> tuple[Tensor, ...]:
        """:meth:`_time_biases` of ``(n,)`` times, the time path run once per run of equal times.

        A training batch drawn on shared levels (``stratified_uniform``'s ``points_per_level``)
        has K runs; its time path then costs K rows, not n, and each point gathers its run's
        row (``index_select``, whose backward is one ``index_add``; advanced indexing's
        accumulating backward cost most of the gain). On the CPU only: finding the runs has a
        data-dependent size, which would stall an accelerator's queue every step, and there the
        per-point time path runs in parallel anyway.
        """
        if t.device.type != "cpu":
            return self._time_biases(t)
        levels, counts = torch.unique_consecutive(t, return_counts=True)
        biases = self._time_biases(levels)
        if levels.shape[0] == t.shape[0]:
            return biases
        index = torch.repeat_interleave(torch.arange(levels.shape[0], device=t.device), counts)
        return tuple(bias.index_select(0, index) for bias in biases)

    def _time_biases(self, t: Tensor) -> tuple[Tensor, ...]:
        """The time path: one additive bias per hidden layer, each ``(n, hidden)``."""
        dtype = self.first.weight.dtype
        return self.time(self.embedding(t.to(dtype))).chunk(self.hidden_layers, dim=1)

    def _features(self, x: Tensor) -> Tensor:
        """x flattened, with its octave and random Fourier features."""
        h = x.flatten(1)
        if self.input_frequencies:
            angles = (h[:, :, None] * self.frequencies).flatten(1)
            h = torch.cat([h, angles.sin(), angles.cos()], dim=1)
        return self.space(h)

