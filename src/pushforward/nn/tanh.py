"""tanh in whichever of three equal forms this machine computes fastest: ``torch.tanh``,
2·σ(2a) − 1, or ``numpy.tanh`` (see :mod:`pushforward.nn.fastest_form` for the timings that
motivate it and how the form is chosen).

The identity tanh a = 2σ(2a) − 1 is exact; in float32 the forms differ by about one unit in the
last place (the sigmoid form's absolute error is below 2.4e-7 for every a, numpy's 6e-8).
A continuous flow's sampling and likelihood solves evaluate tanh on every hidden entry of every
function evaluation (``cnf``'s 3 × 64 field on 100,000 points: 19 M entries per evaluation), so
the slowest form alone can cost seconds. Autograd is not involved: these are for inference and
for hand-written kernels whose backward reuses the saved output (1 − tanh²); a tensor autograd
is tracking gets ``torch.tanh``.
"""

from __future__ import annotations

import numpy
import torch
from torch import Tensor

from pushforward.nn.fastest_form import form_for, numpy_form, numpy_form_, register_forms


def _sigmoid_form(a: Tensor) -> Tensor:
    return torch.sigmoid(a * 2).mul_(2).sub_(1)


def _sigmoid_form_(h: Tensor) -> Tensor:
    return torch.sigmoid_(h.mul_(2)).mul_(2).sub_(1)


# torch.tanh first, the reference a tracked tensor gets: it is the only form differentiable as
# written (numpy's result is cut from the graph, and the sigmoid form scales σ's output in place,
# which σ's backward needs).
FORMS = {"torch": torch.tanh, "sigmoid": _sigmoid_form, "numpy": numpy_form(numpy.tanh)}
IN_PLACE_FORMS = {"torch": torch.tanh_, "sigmoid": _sigmoid_form_, "numpy": numpy_form_(numpy.tanh)}
register_forms("tanh", FORMS)


def tanh(a: Tensor) -> Tensor:
    """tanh a, a new tensor, by the fastest form (not for autograd to differentiate through:
    a tensor autograd tracks gets ``torch.tanh``)."""
    return FORMS[form_for("tanh", a)](a)


def tanh_(h: Tensor) -> Tensor:
    """tanh of ``h`` in place, by the fastest form (inference only)."""
    return IN_PLACE_FORMS[form_for("tanh", h)](h)
