"""A sampler's chain of steps on one chunk of points, written out for any network ``g``: what the
fused forms of :mod:`pushforward.nn.feature_major` compute, and what runs where they cannot
(under autograd, or for networks without a points-as-columns form).

Two kinds of step, each in place on the points ``x``:

* affine (DDIM, Euler): x ← a x + b g(x);
* multistep prediction (DPM-Solver++(2M); Lu et al., "DPM-Solver++: Fast Solver for Guided
  Sampling of Diffusion Probabilistic Models", 2022): y = α x + β g(x), then
  x ← a x + b y + c y_prev, with y_prev the previous step's y (``c`` = 0 at the first step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Network = Callable[[Tensor], Tensor]


def affine_steps_written_out_(x: Tensor, steps: Sequence[tuple[Network, float, float]]) -> Tensor:
    """``x ← a x + b g(x)`` for each ``(g, a, b)`` of ``steps`` in turn, in place."""
    for g, a, b in steps:
        out = g(x)
        x.mul_(a).add_(out, alpha=b)
    return x


def prediction_steps_written_out_(x: Tensor, steps: Sequence[tuple[Network, float, float, float, float, float]]) -> Tensor:
    """For each ``(g, α, β, a, b, c)`` of ``steps`` in turn: y = α x + β g(x), then
    x ← a x + b y + c y_prev, in place."""
    previous: Tensor | None = None
    for g, alpha, beta, a, b, c in steps:
        prediction = torch.mul(g(x), beta).add_(x, alpha=alpha)
        x.mul_(a).add_(prediction, alpha=b)
        if c != 0.0:
            assert previous is not None, "the first step has no previous prediction (c must be 0)"
            x.add_(previous, alpha=c)
        previous = prediction
    return x
