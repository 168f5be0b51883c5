"""Invertible preprocessing with a log-determinant, so likelihoods stay in the data's units.

If y = T(x) is what the model sees, the density of the data is
log p_x(x) = log p_y(T(x)) + log|det ∂T/∂x|; every preprocessing step here returns that
log-determinant so that reported NLLs are always in nats of the data's own units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class Standardize:
    """Per-feature affine standardisation y = (x − mean) / scale, fitted on training data."""

    mean: Tensor
    scale: Tensor

    @classmethod
    def fit(cls, x: Tensor) -> Standardize:
        # Statistics over the batch and all positions, one value per feature (first event axis).
        dims = [0] + list(range(2, x.dim()))
        mean = x.double().mean(dim=dims)
        # Any spread float32 can hold is a scale: a column of 1e-15 ± 1e-16 is as learnable as
        # one of 1 ± 0.1 once divided by its own. (A floor of 1e-12 left such a column at a
        # spread of 1e-4 for the model.) The floor only keeps a constant column, which the
        # data files refuse, from dividing by zero.
        scale = x.double().std(dim=dims).clamp_min(torch.finfo(torch.float32).tiny)
        return cls(mean.float(), scale.float())

    @classmethod
    def identity(cls, features: int) -> Standardize:
        return cls(torch.zeros(features), torch.ones(features))

    def _shape(self, x: Tensor) -> tuple[int, ...]:
        return (1, -1) + (1,) * (x.dim() - 2)

    def forward(self, x: Tensor) -> Tensor:
        shape = self._shape(x)
        return (x - self.mean.to(x).view(shape)) / self.scale.to(x).view(shape)

    def inverse(self, y: Tensor) -> Tensor:
        shape = self._shape(y)
        return y * self.scale.to(y).view(shape) + self.mean.to(y).view(shape)

    def log_det(self, x: Tensor) -> Tensor:
        """log|det ∂y/∂x| for each row of ``x`` (the same for every row)."""
        positions = 1
        for size in x.shape[2:]:
            positions *= size
        value = -torch.log(self.scale.double()).sum() * positions
        return value.to(x.dtype).expand(x.shape[0])

    def to_json(self) -> dict[str, Any]:
        return {"kind": "standardize", "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Standardize:
        return cls(torch.tensor(data["mean"], dtype=torch.float32), torch.tensor(data["scale"], dtype=torch.float32))
