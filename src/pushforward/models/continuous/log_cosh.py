"""σ(a) = log cosh a, OT-Flow's activation: its derivative is tanh, its second 1 − tanh²."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def log_cosh(a: Tensor) -> Tensor:
    """``log cosh a = log(eᵃ + e⁻ᵃ) − log 2``, stable for large ``|a|`` (one fused kernel)."""
    return torch.logaddexp(a, -a) - math.log(2.0)
