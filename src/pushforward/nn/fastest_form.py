"""Elementwise functions computed by whichever of several equal forms this machine runs fastest.

How fast a transcendental function runs on a CPU depends on the library's kernel for that CPU,
by factors of 2 to 7 (torch 2.13, numpy 2.4, float32, one thread):

* on the "AMD EPYC" (AVX-512) of 2026-12-03: ``torch.tanh`` 2.6–3.1 ns per entry, tanh by
  2σ(2a) − 1 0.8–1.2, ``numpy.tanh`` 0.4; ``torch.sin`` 1.6, ``numpy.sin`` 0.64;
* on the project's development machine until 2026-12-03: ``torch.tanh`` 0.77 ns, the sigmoid
  form 3.4.

numpy's float32 sin, cos and tanh are SIMD kernels with errors of about one unit in the last
place (6e-8 absolute against float64 above), as torch's are. Sampling and likelihood solves
evaluate these functions on every hidden entry of every network call (100,000 points × 64 × 50
steps), so the slower form alone can cost a third of the time.

:func:`fastest_form` times the candidates once per process, device type and thread count (a few
milliseconds) and the callers use the winner. A form other than the first (the
reference, torch's own) must beat it by :data:`REQUIRED_SPEEDUP`. The numpy forms work on the
tensor's memory (no copy) and only where autograd is not asked to differentiate through them:
:func:`numpy_allowed` says when.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy
import torch
from torch import Tensor
from torch.autograd.graph import increment_version

Form = Callable[[Tensor], Tensor]

REQUIRED_SPEEDUP = 1.25
"""A form must beat the reference by this factor to be chosen: a near tie is not worth a choice
that could flip between processes on noise."""

_REGISTERED: dict[str, dict[str, Form]] = {}


def register_forms(name: str, forms: dict[str, Form]) -> None:
    """The equal forms of the function ``name``, the reference (torch's own) first."""
    _REGISTERED[name] = forms


def _seconds(function: Form, argument: Tensor) -> float:
    started = time.perf_counter()
    function(argument)
    return time.perf_counter() - started


def fastest_form(name: str, device_type: str) -> str:
    """The name of the fastest registered form of ``name`` on ``device_type`` at the current
    torch thread count: torch's kernels split large tensors between threads and numpy's do not,
    so the winner on one thread (a sampler's worker, :mod:`pushforward.models.row_threads`) can
    lose on two. Accelerators keep the reference: the other forms are for the CPU."""
    return _timed_choice(name, device_type, torch.get_num_threads())


@functools.cache
def _timed_choice(name: str, device_type: str, threads: int) -> str:
    """Timed once per process, device type and thread count, on 65,536 float32 entries in
    [−4, 4] (best of 5 each, interleaved)."""
    forms = _REGISTERED[name]
    reference = next(iter(forms))
    if device_type != "cpu":
        return reference
    a = torch.linspace(-4.0, 4.0, 1 << 16)
    best = {form: float("inf") for form in forms}
    for _ in range(5):
        for form, function in forms.items():
            best[form] = min(best[form], _seconds(function, a))
    winner = min(best, key=best.__getitem__)
    return winner if best[winner] * REQUIRED_SPEEDUP < best[reference] else reference


def form_for(name: str, a: Tensor) -> str:
    """The form of ``name`` to compute on ``a``: the fastest, or the reference (torch's own,
    which autograd can differentiate) where a numpy form may not take ``a``."""
    return fastest_form(name, a.device.type) if numpy_allowed(a) else next(iter(_REGISTERED[name]))


def numpy_allowed(a: Tensor) -> bool:
    """Whether a numpy form may compute on ``a``: a CPU tensor of float32 or float64 that
    autograd is not tracking (a numpy result would silently cut the graph)."""
    tracked = a.requires_grad and torch.is_grad_enabled()
    return a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64) and not tracked


def numpy_form(ufunc: numpy.ufunc) -> Form:
    """``a ↦ ufunc(a)`` as a new tensor, computed by numpy on ``a``'s memory."""

    def form(a: Tensor) -> Tensor:
        return torch.from_numpy(ufunc(a.detach().numpy()))

    return form


def numpy_form_(ufunc: numpy.ufunc) -> Form:
    """``h ↦ ufunc(h)`` written into ``h`` (numpy, on ``h``'s memory). The write is counted in
    ``h``'s version, as torch's in-place operations count theirs, so autograd still refuses a
    backward through a value that was overwritten."""

    def form(h: Tensor) -> Tensor:
        array = h.detach().numpy()
        ufunc(array, out=array)
        increment_version(h)
        return h

    return form
