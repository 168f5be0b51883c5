"""Activation normalization.

Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018.
A per-feature affine map whose first training batch sets it so that batch leaves with zero mean
and unit variance per feature; afterwards it is an ordinary learned parameter.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pushforward.models.flows.transforms import Transform


class ActNorm(Transform):
    """``z = (x - loc) · exp(-log_scale)`` per feature (first event axis), shared over positions."""

    def __init__(self, features: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.features = features
        self.eps = eps
        self.loc = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))
        # A buffer, not a Python flag: it is saved with the weights, so a loaded model is not
        # re-initialised from whatever batch it sees first.
        self.register_buffer("initialized", torch.tensor(False))

    def _view(self, parameter: Tensor, x: Tensor) -> Tensor:
        return parameter.view(1, self.features, *([1] * (x.dim() - 2)))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set ``loc`` and ``log_scale`` to the per-feature mean and log standard deviation of ``x``."""
        per_feature = x.transpose(0, 1).reshape(self.features, -1)
        self.loc.copy_(per_feature.mean(dim=1))
        self.log_scale.copy_(per_feature.std(dim=1, unbiased=False).clamp(min=self.eps).log())
        self.initialized.fill_(True)

    def _positions(self, x: Tensor) -> int:
        return x[0, 0].numel()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(x)
        z = (x - self._view(self.loc, x)) * torch.exp(-self._view(self.log_scale, x))
        log_det = -self.log_scale.sum() * self._positions(x)
        return z, log_det.expand(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = z * torch.exp(self._view(self.log_scale, z)) + self._view(self.loc, z)
        log_det = self.log_scale.sum() * self._positions(z)
        return x, log_det.expand(z.shape[0])
