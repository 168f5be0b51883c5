"""tanh in whichever of two equal forms this machine computes faster: ``torch.tanh`` or
2·σ(2a) − 1.

The identity tanh a = 2σ(2a) − 1 is exact; in float32 the two forms differ by about one unit in
the last place (the sigmoid form's absolute error is below 2.4e-7 for every a). torch computes
them through different vectorised kernels, and which one is faster depends on the CPU, by a
factor of 3 or more either way (torch 2.13, float32, one thread):

- the project's development machine until 2026-12-03: ``torch.tanh`` 0.77 ns per entry
  (100,000 × 64), the sigmoid form 3.4 ns;
- the "AMD EPYC" (AVX-512) of 2026-12-03's evening session: ``torch.tanh`` 3.0–3.6 ns per
  entry, the sigmoid form 1.1–1.4 ns (``torch.sigmoid`` alone 0.5 ns).

A continuous flow's sampling and likelihood solves evaluate tanh on every hidden entry of every
function evaluation (``cnf``'s 3 × 64 field on 100,000 points: 19 M entries per evaluation), so
the slow form alone can cost seconds. :func:`sigmoid_form_is_faster` times both forms once per
process and device type (a few milliseconds) and the functions here use the winner. Autograd
is not involved: these are for inference and for hand-written kernels whose backward reuses
the saved output (1 − tanh²).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
from torch import Tensor

# The sigmoid form must beat torch.tanh by this factor to be chosen: a near tie is not worth
# the extra passes over memory, nor a choice that could flip between processes on noise.
_REQUIRED_SPEEDUP = 1.25


def _sigmoid_form(a: Tensor) -> Tensor:
    return torch.sigmoid(a * 2).mul_(2).sub_(1)


def _sigmoid_form_(h: Tensor) -> Tensor:
    return torch.sigmoid_(h.mul_(2)).mul_(2).sub_(1)


def _seconds(function: Callable[[Tensor], Tensor], argument: Tensor) -> float:
    started = time.perf_counter()
    function(argument)
    return time.perf_counter() - started


@functools.cache
def sigmoid_form_is_faster(device_type: str) -> bool:
    """Whether 2σ(2a) − 1 beats ``torch.tanh`` on this machine's ``device_type`` ("cpu"), timed
    once per process on 65,536 float32 entries at the current thread count (best of 5 each,
    interleaved). Accelerators keep ``torch.tanh``."""
    if device_type != "cpu":
        return False
    a = torch.linspace(-4.0, 4.0, 1 << 16)
    tanh_seconds = sigmoid_seconds = float("inf")
    for _ in range(5):
        tanh_seconds = min(tanh_seconds, _seconds(torch.tanh, a))
        sigmoid_seconds = min(sigmoid_seconds, _seconds(_sigmoid_form, a))
    return sigmoid_seconds * _REQUIRED_SPEEDUP < tanh_seconds


def tanh(a: Tensor) -> Tensor:
    """tanh a, a new tensor, by the faster form (not for autograd to differentiate through:
    the sigmoid form records four operations)."""
    return _sigmoid_form(a) if sigmoid_form_is_faster(a.device.type) else torch.tanh(a)


def tanh_(h: Tensor) -> Tensor:
    """tanh of ``h`` in place, by the faster form (inference only)."""
    return _sigmoid_form_(h) if sigmoid_form_is_faster(h.device.type) else torch.tanh_(h)
