"""A normalizing flow: a standard Gaussian pushed through a stack of bijections.

Rezende & Mohamed, "Variational Inference with Normalizing Flows", ICML 2015; Papamakarios,
Nalisnick, Rezende, Mohamed, Lakshminarayanan, "Normalizing Flows for Probabilistic Modeling and
Inference", JMLR 2021. With z = f(x), log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from pushforward.models.base import SAMPLE_CHUNK_ROWS, GenerativeModel, LikelihoodKind, in_row_chunks
from pushforward.models.flows.transforms import Composition, Transform, sum_event


class Flow(GenerativeModel):
    """Standard-normal base over ``event_shape`` and ``transforms`` mapping data to noise."""

    likelihood: ClassVar[LikelihoodKind] = "exact"

    def __init__(self, event_shape: tuple[int, ...], hparams: Any, transforms: Sequence[Transform]) -> None:
        super().__init__(event_shape, hparams)
        self.transforms = Composition(transforms)
        self._log_normalizer = 0.5 * math.prod(self.event_shape) * math.log(2.0 * math.pi)

    @property
    def dtype(self) -> torch.dtype:
        for tensor in self.parameters():
            return tensor.dtype
        return torch.get_default_dtype()

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Data → noise: ``(z, log|det ∂z/∂x|)``."""
        return self.transforms(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Noise → data: ``(x, log|det ∂x/∂z|)``."""
        return self.transforms.inverse(z)

    def base_log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * sum_event(z.square()) - self._log_normalizer

    def log_prob(self, x: Tensor) -> Tensor:
        z, log_det = self.transform(x)
        return self.base_log_prob(z) + log_det

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws, without gradients (use :meth:`inverse` on your own noise to differentiate)."""
        z = torch.randn((n, *self.event_shape), generator=generator, device=self.device, dtype=self.dtype)
        if z.device.type != "cpu":
            return self.inverse(z)[0]
        # Rows are independent, so the inverse runs in cache-sized pieces on the CPU.
        return in_row_chunks(lambda part: self.inverse(part)[0], z, SAMPLE_CHUNK_ROWS)
