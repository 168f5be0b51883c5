"""Element-wise bijections fed by a conditioner: how many parameters each needs and how to apply them.

A kernel object is the glue between a network that outputs ``P`` raw numbers per transformed
element and a pure math kernel in :mod:`pushforward.models.flows.kernels`. All-zero raw
parameters are the identity, so a zero-initialised output layer makes a fresh flow the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from pushforward.models.flows.kernels import affine, rational_quadratic_spline, soft_clamp


class ElementwiseKernel(Protocol):
    """``kernel(x, params, inverse)`` with ``params`` of shape ``(*x.shape, kernel.params)``."""

    @property
    def params(self) -> int: ...

    def __call__(self, x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class AffineKernel:
    """Shift and bounded log-scale (Dinh et al., "Density estimation using Real NVP", 2017)."""

    log_scale_bound: float = 3.0

    @property
    def params(self) -> int:
        return 2

    def __call__(self, x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        shift, raw_log_scale = params.unbind(-1)
        return affine(x, shift, soft_clamp(raw_log_scale, self.log_scale_bound), inverse=inverse)


@dataclass(frozen=True)
class SplineKernel:
    """Rational-quadratic spline on [-bound, bound] with K bins (Durkan et al., "Neural Spline Flows", 2019)."""

    bins: int = 8
    bound: float = 5.0

    @property
    def params(self) -> int:
        return 3 * self.bins - 1

    def __call__(self, x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        k = self.bins
        # One split rather than three slices: the backward of a split is a single concatenation,
        # whereas each slice's backward zero-fills a full-size gradient and adds into it.
        widths, heights, derivatives = params.split((k, k, k - 1), dim=-1)
        return rational_quadratic_spline(x, widths, heights, derivatives, bound=self.bound, inverse=inverse)
