"""sin and cos in whichever of two equal forms this machine computes faster: torch's or numpy's
(see :mod:`pushforward.nn.fastest_form` for the timings and how the form is chosen).

The random Fourier features of a denoiser or v-field (:class:`~pushforward.nn.embeddings.FourierFeatures`)
take a sine and a cosine of every projection of every point at every network call: 100,000
DDIM-50 samples of the default ``ddpm`` compute 320 M of each, about a fifth of the sampler's
time with torch's kernels on the AMD EPYC of 2026-12-03, where numpy's run 2.5× faster. A tensor
autograd tracks gets torch's, which autograd can differentiate.
"""

from __future__ import annotations

import numpy
import torch
from torch import Tensor

from pushforward.nn.fastest_form import form_for, numpy_form, numpy_form_, register_forms

# One choice for both functions: they come from the same library's kernels.
_SIN = {"torch": torch.sin, "numpy": numpy_form(numpy.sin)}
register_forms("sin", _SIN)
_SIN_IN_PLACE = {"torch": torch.sin_, "numpy": numpy_form_(numpy.sin)}
_COS = {"torch": torch.cos, "numpy": numpy_form(numpy.cos)}
_COS_IN_PLACE = {"torch": torch.cos_, "numpy": numpy_form_(numpy.cos)}


def sin(a: Tensor) -> Tensor:
    """sin a, a new tensor, by the faster form."""
    return _SIN[form_for("sin", a)](a)


def sin_(h: Tensor) -> Tensor:
    """sin of ``h`` in place, by the faster form."""
    return _SIN_IN_PLACE[form_for("sin", h)](h)


def cos(a: Tensor) -> Tensor:
    """cos a, a new tensor, by the faster form."""
    return _COS[form_for("sin", a)](a)


def cos_(h: Tensor) -> Tensor:
    """cos of ``h`` in place, by the faster form."""
    return _COS_IN_PLACE[form_for("sin", h)](h)
