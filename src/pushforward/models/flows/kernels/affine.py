"""Element-wise affine maps, the kernel of RealNVP couplings and MAF.

Dinh, Sohl-Dickstein, Bengio, "Density estimation using Real NVP", ICLR 2017;
Papamakarios, Pavlakou, Murray, "Masked Autoregressive Flow for Density Estimation", NeurIPS 2017.
"""

from __future__ import annotations

import torch
from torch import Tensor


def affine(x: Tensor, shift: Tensor, log_scale: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
    """``y = x · exp(log_scale) + shift`` (or its inverse) and the element-wise log|dy/dx|."""
    if inverse:
        y = (x - shift) * torch.exp(-log_scale)
        logabsdet = -log_scale
    else:
        y = x * torch.exp(log_scale) + shift
        logabsdet = log_scale
    # Callers sum the log-det over event axes, so it must have y's shape even if log_scale broadcasts.
    return y, torch.broadcast_to(logabsdet, y.shape)


def soft_clamp(log_scale: Tensor, bound: float) -> Tensor:
    """``bound · tanh(log_scale / bound)``: a smooth clamp to (-bound, bound).

    Unbounded log-scales let one coupling blow up (exp overflow) early in training; the tanh
    keeps the map smooth and is close to the identity for |log_scale| << bound.
    """
    return bound * torch.tanh(log_scale / bound)
