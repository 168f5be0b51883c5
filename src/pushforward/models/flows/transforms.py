"""The bijection interface shared by every discrete flow layer, and their composition.

Conventions (as in Papamakarios et al., "Normalizing Flows for Probabilistic Modeling and
Inference", JMLR 2021): ``forward`` is the normalizing direction, data x → noise z, and returns
log|det ∂z/∂x|; ``inverse`` is the generative direction and returns log|det ∂x/∂z|. Inputs are
batches ``(n, features, *positions)``: the first event axis is the feature axis, any further
axes are positions that share parameters.
"""

from __future__ import annotations

import abc

from collections.abc import Iterable

from torch import Tensor, nn


def sum_event(elementwise: Tensor) -> Tensor:
    """Sum an element-wise log-det ``(n, *event)`` over the event axes, giving ``(n,)``."""
    return elementwise.sum(dim=tuple(range(1, elementwise.dim())))


class Transform(nn.Module, abc.ABC):
    """An invertible map with a tractable log-det in both directions."""

    @abc.abstractmethod
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, log|det ∂z/∂x|)`` with the log-det of shape ``(n,)``."""

    @abc.abstractmethod
    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``(x, log|det ∂x/∂z|)`` with the log-det of shape ``(n,)``."""


class Composition(Transform):
    """``t_k ∘ … ∘ t_1`` in the forward direction; log-dets add up."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for transform in self.transforms:
            x, log_det = transform(x)
            total = total + log_det
        return x, total

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for transform in reversed(self.transforms):
            z, log_det = transform.inverse(z)
            total = total + log_det
        return z, total

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self):
        return iter(self.transforms)
