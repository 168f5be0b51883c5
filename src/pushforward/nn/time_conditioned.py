"""A time-conditioned MLP ``(x, c) → output shaped like x`` for vectors: every hidden layer
receives the noise level or time ``c`` through an additive, learned bias computed from a
sinusoidal embedding of ``c`` and, with ``time_scale``, a learned per-unit scale of its
pre-activation (FiLM: Perez, Strub, de Vries, Dumoulin, Courville, "FiLM: Visual Reasoning with
a General Conditioning Layer", AAAI 2018; the scale-shift norm of Dhariwal & Nichol's
diffusion U-Net, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021). The diffusion
denoiser (``ddpm``) and the flow-matching v-field
(:class:`~pushforward.models.continuous.fields.VPredictionField`) are built on it.

Feeding c to every layer (rather than only concatenating it to the input) follows the time
conditioning of Ho, Jain, Abbeel's U-Net ("Denoising Diffusion Probabilistic Models", NeurIPS
2020), where each residual block adds a projection of the time embedding; here it also makes
sampling cheap: all points of a sampling step share c, so the time path runs once per step,
not once per point, and a scale folds into the layer's weight rows, so it costs nothing there.
Image models plug a U-Net with the same ``(x, c) → output shaped like x`` signature into the
same slot.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.nn.embeddings import FourierFeatures, SinusoidalEmbedding
from pushforward.nn.feature_major import FeatureMajorMLP, first_layer_matrix, with_bias_column
from pushforward.nn.mlp import Activation, activate, activation_module


TimeModulation = tuple[tuple[Tensor, ...], tuple[Tensor, ...] | None]
"""Per hidden layer, the time path's additive shifts and (or ``None``) multiplicative scales."""


class NetworkAtTime:
    """The network at one time, its time path already run: call it on points ``(n, *event)``.

    Without autograd it runs as ``feature_major`` (when given), the points-as-columns form,
    which a sampler's chain can also run fused (:mod:`pushforward.nn.chains`); otherwise
    ``on_rows``, the points-as-rows path.
    """

    def __init__(self, on_rows: Callable[[Tensor], Tensor], feature_major: FeatureMajorMLP | None) -> None:
        self.on_rows, self.feature_major = on_rows, feature_major

    def points_as_columns(self) -> FeatureMajorMLP | None:
        """The points-as-columns form, if there is one and autograd is off (it records nothing)."""
        return None if torch.is_grad_enabled() else self.feature_major

    def __call__(self, x: Tensor) -> Tensor:
        form = self.points_as_columns()
        if form is not None:
            return form(x.flatten(1)).reshape(x.shape)
        return self.on_rows(x)


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
        time_scale: bool = False,
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
        self.time_scale = time_scale
        outputs_per_layer = 2 if time_scale else 1
        self.time = nn.Sequential(
            nn.Linear(embedding_features, hidden_features),
            activation_module(activation),
            nn.Linear(hidden_features, hidden_features * hidden_layers * outputs_per_layer),
        )
        if self.first_scale_output is not None:
            # The scales start at exactly 1 (the network starts as the shift-only one).
            with torch.no_grad():
                self.time[-1].weight[self.first_scale_output :].zero_()
                self.time[-1].bias[self.first_scale_output :].zero_()
        self.first = nn.Linear(self.space.features, hidden_features)
        self.hidden = nn.ModuleList(nn.Linear(hidden_features, hidden_features) for _ in range(hidden_layers - 1))
        self.last = nn.Linear(hidden_features, features)
        self.activations = nn.ModuleList(activation_module(activation) for _ in range(hidden_layers))

    @property
    def first_scale_output(self) -> int | None:
        """Index of the time path's first output that makes a scale (the shifts of every layer
        come first, then the scales); ``None`` without ``time_scale``."""
        return self.time[-1].out_features // 2 if self.time_scale else None

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``x`` of shape ``(n, *event)``, ``t`` of shape ``(n,)`` or a 0-d time shared by all."""
        if t.numel() == 1:
            return self.at_time(t)(x)
        (shifts, scales), run_length = self._time_biases_of_runs(t.reshape(-1).to(x.dtype))
        # Points as (runs, run_length, features): each run's shift and scale broadcast over its
        # points, whose gradient is a sum over them, with no per-point copy of the time path.
        h = self._features(x)
        h = h.view(-1, run_length, h.shape[1])
        for index, (layer, activation) in enumerate(zip([self.first, *self.hidden], self.activations)):
            h = layer(h)
            if scales is not None:
                h = h * scales[index].unsqueeze(1)
            h = activation(h + shifts[index].unsqueeze(1))
        return self.last(h).view_as(x)

    def at_time(self, t: Tensor) -> NetworkAtTime:
        """``x ↦ network(x, t)`` for one time ``t`` shared by the whole batch (sampling).

        The time path runs once, here, and its output is folded into each layer's bias (the
        shifts) and weight rows (the scales), so the returned function costs one fused matrix
        product per layer (no extra pass over the ``(n, hidden)`` activations), however many
        chunks of points it is then called on. Made and called without autograd (sampling), it
        runs with the points as columns, each layer's bias folded into its product and its
        activation in place (:class:`~pushforward.nn.feature_major.FeatureMajorMLP`); the octave
        features (``input_frequencies``) keep the points-as-rows path, with in-place activations.
        """
        return self.at_times(t.reshape(1))[0]

    def at_times(self, times: Tensor) -> list[NetworkAtTime]:
        """:meth:`at_time` at each of ``times`` ``(T,)``, with the time path and the folding
        done once for all of them, as batched operations: a sampler's 50 steps then cost about
        30 small operations up front instead of about 300 at every step."""
        count = times.numel()
        shifts, scales = self._time_biases(times.reshape(-1))
        layers = [self.first, *self.hidden]
        if scales is None:
            weights = [layer.weight.expand(count, -1, -1) for layer in layers]
            folded = [layer.bias + shift for layer, shift in zip(layers, shifts)]
        else:
            # A per-unit scale of the layer's output is a scaling of its weight rows and bias.
            weights = [layer.weight * scale[:, :, None] for layer, scale in zip(layers, scales)]
            folded = [layer.bias * scale + shift for layer, scale, shift in zip(layers, scales, shifts)]
        if self.input_frequencies or torch.is_grad_enabled():
            # Under autograd the points-as-rows path runs, whose operations autograd records.
            feature_major: list[FeatureMajorMLP | None] = [None] * count
        else:
            # Without autograd (sampling) and without octave features: the points-as-columns
            # inference path, each layer one product with its bias folded in (measured 0.79x of
            # the points-as-rows path for the default denoiser; pushforward.nn.feature_major).
            projection = self.space.projection
            angles = torch.cat([projection, projection])
            first = first_layer_matrix(weights[0], folded[0], projection.shape[1])
            hidden = [with_bias_column(weight, bias) for weight, bias in zip(weights[1:], folded[1:])]
            last = with_bias_column(self.last.weight, self.last.bias)
            feature_major = [
                FeatureMajorMLP(angles, first[i], [matrix[i] for matrix in hidden], last, list(self.activations)) for i in range(count)
            ]
        return [
            NetworkAtTime(partial(self._on_rows, [weight[i] for weight in weights], [bias[i] for bias in folded]), feature_major[i])
            for i in range(count)
        ]

    def _on_rows(self, weights: list[Tensor], biases: list[Tensor], x: Tensor) -> Tensor:
        """The network at one time with its folded ``weights`` and ``biases``, points as rows."""
        in_place = not torch.is_grad_enabled()
        h = F.linear(self._features(x), weights[0].to(x.dtype), biases[0].to(x.dtype))
        h = activate(self.activations[0], h, in_place)
        for weight, bias, activation in zip(weights[1:], biases[1:], self.activations[1:]):
            h = F.linear(h, weight.to(h.dtype), bias.to(h.dtype))
            h = activate(activation, h, in_place)
        return self.last(h).view_as(x)

    def _time_biases_of_runs(self, t: Tensor) -> tuple[TimeModulation, int]:
        """:meth:`_time_biases` of ``(n,)`` times, the time path run once per run of equal times,
        and the runs' common length (1 when they differ: then each point gets its own row).

        A training batch drawn on shared levels (``stratified_uniform``'s ``points_per_level``)
        has K runs of n/K points; its time path then costs K rows, not n, and the layers
        broadcast each run's row over its points. Runs of unequal lengths gather each point's
        run's row (``index_select``, whose backward is one ``index_add``; advanced indexing's
        accumulating backward cost most of the gain). On the CPU only: finding the runs has a
        data-dependent size, which would stall an accelerator's queue every step, and there the
        per-point time path runs in parallel anyway.
        """
        if t.device.type != "cpu":
            return self._time_biases(t), 1
        levels, counts = torch.unique_consecutive(t, return_counts=True)
        if levels.shape[0] == t.shape[0]:
            return self._time_biases(levels), 1
        if bool((counts == counts[0]).all()):
            return self._time_biases(levels), int(counts[0])
        index = torch.repeat_interleave(torch.arange(levels.shape[0], device=t.device), counts)
        return self._split(self._time_path(levels).index_select(0, index)), 1

    def _time_biases(self, t: Tensor) -> TimeModulation:
        """The time path: per hidden layer an additive shift and (``time_scale``) a scale, each
        ``(n, hidden)``."""
        return self._split(self._time_path(t))

    def _time_path(self, t: Tensor) -> Tensor:
        return self.time(self.embedding(t.to(self.first.weight.dtype)))

    def _split(self, out: Tensor) -> TimeModulation:
        first_scale = self.first_scale_output
        if first_scale is None:
            return out.chunk(self.hidden_layers, dim=1), None
        shifts, scales = out[:, :first_scale], 1.0 + out[:, first_scale:]
        return shifts.chunk(self.hidden_layers, dim=1), scales.chunk(self.hidden_layers, dim=1)

    def _features(self, x: Tensor) -> Tensor:
        """x flattened, with its octave and random Fourier features."""
        h = x.flatten(1)
        if self.input_frequencies:
            angles = (h[:, :, None] * self.frequencies).flatten(1)
            h = torch.cat([h, angles.sin(), angles.cos()], dim=1)
        return self.space(h)

