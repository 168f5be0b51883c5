"""Invertible linear maps over the feature axis: learned (LU) and fixed (permutations).

Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018
(the LU-decomposed 1×1 convolution); the same map on vectors is the "linear" layer between
couplings in Durkan et al., "Neural Spline Flows", 2019.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.models.flows.transforms import Transform


def mix_features(weight: Tensor, x: Tensor) -> Tensor:
    """Apply a (C, C) matrix to the feature axis of ``(n, C, *positions)``; a 1×1 convolution for images."""
    if x.dim() == 2:
        return F.linear(x, weight)
    n, c = x.shape[:2]
    return (weight @ x.reshape(n, c, -1)).view(x.shape)


class LULinear(Transform):
    """``z = W x`` with ``W = P L (U + diag(sign · exp(log_s)))``.

    P is a fixed permutation, L unit lower-triangular, U strictly upper-triangular: the log-det
    is ``sum(log_s)`` per position and the inverse needs only triangular solves. Initialised at a
    random orthogonal matrix, so it starts volume-preserving and well conditioned.
    """

    def __init__(self, features: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.features = features
        orthogonal, _ = torch.linalg.qr(torch.randn(features, features, generator=generator))
        permutation, lower, upper = torch.linalg.lu(orthogonal)
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", permutation)
        self.register_buffer("sign", torch.sign(diagonal))
        self.register_buffer("eye", torch.eye(features), persistent=False)
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_diagonal = nn.Parameter(diagonal.abs().log())

    def _factors(self) -> tuple[Tensor, Tensor]:
        lower = torch.tril(self.lower, -1) + self.eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * torch.exp(self.log_diagonal))
        return lower, upper

    def weight(self) -> Tensor:
        lower, upper = self._factors()
        return self.permutation @ lower @ upper

    def inverse_weight(self) -> Tensor:
        """``W⁻¹ = U⁻¹ L⁻¹ Pᵀ`` by two triangular solves on the small (C, C) system.

        Solving once for the matrix, then one matmul over the batch, is cheaper than solving per
        sample when the batch is much larger than C.
        """
        lower, upper = self._factors()
        solved = torch.linalg.solve_triangular(lower, self.permutation.T, upper=False, unitriangular=True)
        return torch.linalg.solve_triangular(upper, solved, upper=True)

    def _log_det(self, x: Tensor) -> Tensor:
        return (self.log_diagonal.sum() * x[0, 0].numel()).expand(x.shape[0])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return mix_features(self.weight(), x), self._log_det(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return mix_features(self.inverse_weight(), z), -self._log_det(z)


class Permutation(Transform):
    """A fixed reordering of the feature axis (volume-preserving, log-det 0)."""

    def __init__(self, permutation: Tensor) -> None:
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        if sorted(permutation.tolist()) != list(range(permutation.numel())):
            raise ValueError(f"not a permutation: {permutation.tolist()}")
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    @classmethod
    def reverse(cls, features: int) -> Permutation:
        return cls(torch.arange(features - 1, -1, -1))

    @classmethod
    def random(cls, features: int, seed: int | None = None) -> Permutation:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return cls(torch.randperm(features, generator=generator))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.index_select(1, self.permutation), x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z.index_select(1, self.inverse_permutation), z.new_zeros(z.shape[0])
