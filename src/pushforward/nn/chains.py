"""A sampler's chain of steps on one chunk of points, for any network ``g``.

:func:`affine_steps_` and :func:`prediction_steps_` run the chain fused, the points kept in the
network's buffers from the first step to the last (:mod:`pushforward.nn.feature_major`), when
every step's network is a time-conditioned network at one time that can run with the points as
columns now (no autograd); otherwise the written-out forms below, which the fused ones equal.

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

from pushforward.nn import feature_major
from pushforward.nn.time_conditioned import NetworkAtTime

Network = Callable[[Tensor], Tensor]


def _points_as_columns(x: Tensor, networks: Sequence[Network]) -> list[feature_major.FeatureMajorMLP] | None:
    """Every network's points-as-columns form, or None if one has none now (or ``x``, viewed as
    rows, is not contiguous, so the fused chain could not write back into it)."""
    if not x.is_contiguous():
        return None
    forms = [network.points_as_columns() if isinstance(network, NetworkAtTime) else None for network in networks]
    return None if any(form is None for form in forms) else forms  # type: ignore[return-value]


def affine_steps_(x: Tensor, steps: Sequence[tuple[Network, float, float]]) -> Tensor:
    """``x ← a x + b g(x)`` for each ``(g, a, b)`` of ``steps`` in turn, in place (DDIM's chain on
    one chunk): fused when every g allows it (:func:`feature_major.affine_steps_`)."""
    forms = _points_as_columns(x, [g for g, _, _ in steps])
    if forms is None:
        return affine_steps_written_out_(x, steps)
    feature_major.affine_steps_(x.flatten(1), [(form, a, b) for form, (_, a, b) in zip(forms, steps)])
    return x


def prediction_steps_(x: Tensor, steps: Sequence[tuple[Network, float, float, float, float, float]]) -> Tensor:
    """For each ``(g, α, β, a, b, c)`` of ``steps`` in turn: y = α x + β g(x), then
    x ← a x + b y + c y_prev, in place (DPM-Solver++'s chain on one chunk): fused when every g
    allows it (:func:`feature_major.prediction_steps_`)."""
    forms = _points_as_columns(x, [step[0] for step in steps])
    if forms is None:
        return prediction_steps_written_out_(x, steps)
    feature_major.prediction_steps_(x.flatten(1), [(form, *step[1:]) for form, step in zip(forms, steps)])
    return x


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
