"""Inference of an MLP on random Fourier features with the points as columns, each layer one
matrix product with its bias folded in.

The usual layout keeps points as rows: a layer ``h ↦ σ(h Wᵀ + b)`` is an ``addmm`` that first
writes the broadcast bias into its ``(n, out)`` output and then has the product add onto it,
two passes over memory besides the product. With the points as columns and a last row of ones,
``[h; 1]`` of shape ``(in + 1, n)``, the same layer is one product ``[W | b] @ [h; 1]``,
written into the first ``out`` rows of the next such buffer: in row-major memory those rows are
one contiguous block, so the product writes its output once, the activation runs in place on
it, and the buffer's own ones row is already there for the next layer. The first layer's input
is built the same way, ``[sin θ; cos θ; x; 1]`` with θ = B x written into the sine and cosine
rows by one product of ``[B; B]`` with the ``x`` rows, each function then applied in place to
its contiguous block, with no concatenated copy of the features.

Measured for the default ``ddpm`` denoiser (48 wide, 3 hidden layers, 32 Fourier projections),
8,192 points a call on one thread, 21 interleaved rounds on an Intel Xeon (2026-12-05): 2.27 ms
against 2.89 ms for the points-as-rows path (median ratio 0.79). The values agree to float32
rounding (the products sum in another order).

Random Fourier features: Tancik et al., "Fourier Features Let Networks Learn High Frequency
Functions in Low Dimensional Domains", NeurIPS 2020.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pushforward.nn.mlp import activate
from pushforward.nn.sinusoids import cos_, sin_


def with_bias_column(weight: Tensor, bias: Tensor) -> Tensor:
    """``[W | b]``: a layer's weight with its bias as a last column, which multiplies the ones
    row of a points-as-columns buffer."""
    return torch.cat([weight, bias[:, None]], dim=1)


class FeatureMajorMLP:
    """``x ↦ last(σ(… σ(first([x, sin Bx, cos Bx])) …))`` for a batch of rows ``x`` ``(n, d)``,
    computed with the points as columns (see the module's docstring); inference only.

    ``first_weight``'s columns are ordered as the features ``[x, sin Bx, cos Bx]`` (``B`` is
    ``projection``, ``(F, d)``; ``F = 0``: the features are ``x`` alone). Every hidden layer
    must map the hidden width to itself, so two buffers take turns. The weights are cast once
    to each dtype and device they are called with.
    """

    def __init__(
        self,
        projection: Tensor,
        first: tuple[Tensor, Tensor],
        hidden: Sequence[tuple[Tensor, Tensor]],
        last: tuple[Tensor, Tensor],
        activations: Sequence[nn.Module],
    ) -> None:
        waves, dimension = projection.shape
        first_weight, first_bias = first
        if first_weight.shape[1] != dimension + 2 * waves:
            raise ValueError(f"the first layer takes {first_weight.shape[1]} features, not d + 2F = {dimension + 2 * waves}")
        if len(activations) != 1 + len(hidden):
            raise ValueError(f"{1 + len(hidden)} hidden layers need as many activations, not {len(activations)}")
        width = first_weight.shape[0]
        if any(weight.shape != (width, width) for weight, _ in hidden):
            raise ValueError(f"every hidden layer must map {width} units to {width}")
        self.waves, self.dimension, self.width = waves, dimension, width
        # Reordered to the buffer's rows [sin θ; cos θ; x; 1]: the angles come first, so the
        # product that forms them writes one block and reads the x rows right after it.
        reordered = torch.cat([first_weight[:, dimension:], first_weight[:, :dimension]], dim=1)
        self._matrices = {
            "angles": torch.cat([projection, projection]),
            "first": with_bias_column(reordered, first_bias),
            "hidden": [with_bias_column(weight, bias) for weight, bias in hidden],
            "last": with_bias_column(*last),
        }
        self._cast: dict[tuple[torch.dtype, torch.device], dict] = {}
        self.activations = list(activations)

    def _matrices_for(self, x: Tensor) -> dict:
        key = (x.dtype, x.device)
        if key not in self._cast:
            cast = lambda m: m.to(device=x.device, dtype=x.dtype).contiguous()  # noqa: E731
            matrices = self._matrices
            self._cast[key] = {
                "angles": cast(matrices["angles"]),
                "first": cast(matrices["first"]),
                "hidden": [cast(m) for m in matrices["hidden"]],
                "last": cast(matrices["last"]),
            }
        return self._cast[key]

    def __call__(self, x: Tensor) -> Tensor:
        """The network on the rows of ``x`` ``(n, d)``: ``(n, outputs)``, a transposed view of
        the last product."""
        matrices = self._matrices_for(x)
        n, waves, dimension, width = x.shape[0], self.waves, self.dimension, self.width
        # Allocated per call: the row-splitting samplers call this from several threads at once.
        features = torch.empty(2 * waves + dimension + 1, n, dtype=x.dtype, device=x.device)
        features[2 * waves : -1].copy_(x.T)
        features[-1].fill_(1.0)
        if waves:
            torch.mm(matrices["angles"], features[2 * waves : -1], out=features[: 2 * waves])
            sin_(features[:waves])
            cos_(features[waves : 2 * waves])
        buffers = [torch.empty(width + 1, n, dtype=x.dtype, device=x.device) for _ in range(2)]
        for buffer in buffers:
            buffer[-1].fill_(1.0)
        h = features
        for index, (matrix, activation) in enumerate(zip([matrices["first"], *matrices["hidden"]], self.activations)):
            out = buffers[index % 2]
            units = out[:width]
            torch.mm(matrix, h, out=units)
            activated = activate(activation, units, in_place=True)
            if activated is not units:  # an activation without an in-place form (GELU)
                units.copy_(activated)
            h = out
        return torch.mm(matrices["last"], h).T
