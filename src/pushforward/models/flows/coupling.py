"""Coupling layers: transform half of the features given the other half.

Dinh, Sohl-Dickstein, Bengio, "Density estimation using Real NVP", ICLR 2017 (affine kernel);
Durkan, Bekasov, Murray, Papamakarios, "Neural Spline Flows", NeurIPS 2019 (spline kernel).
The identity part passes through unchanged and feeds a conditioner that outputs the kernel's
parameters for the other part, so the Jacobian is triangular and both directions cost one
conditioner pass.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pushforward.models.flows.conditioners import ConditionerFactory, Unconditional, mlp_conditioner
from pushforward.models.flows.elementwise import ElementwiseKernel
from pushforward.models.flows.transforms import Transform, sum_event


class Coupling(Transform):
    """Split the feature axis; transform one part element-wise, conditioned on the other.

    With ``features >= 2``, ``parity=0`` keeps the first ``features // 2`` features and
    transforms the rest; ``parity=1`` transforms the first ``features // 2`` and keeps the
    rest, so alternating parities transform every feature. With one feature there is nothing
    to condition on and the parameters are learned constants (per position).
    """

    def __init__(
        self,
        event_shape: tuple[int, ...],
        kernel: ElementwiseKernel,
        parity: int = 0,
        conditioner: ConditionerFactory | None = None,
    ) -> None:
        super().__init__()
        features, *positions = event_shape
        self.kernel = kernel
        self.parity = int(parity) % 2
        half = features // 2
        if features == 1:
            sizes = (0, 1)
        elif self.parity == 0:
            sizes = (half, features - half)
        else:
            sizes = (features - half, half)
        # (kept, transformed) sizes, and where the kept part sits along the feature axis.
        self.kept, self.changed = sizes
        self.kept_first = self.parity == 0
        self.positions = tuple(positions)
        out_shape = (self.changed * kernel.params, *positions)
        if self.kept == 0:
            self.conditioner: nn.Module = Unconditional(out_shape)
        else:
            factory = conditioner if conditioner is not None else mlp_conditioner()
            self.conditioner = factory((self.kept, *positions), out_shape)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.kept_first:
            kept, changed = x.split((self.kept, self.changed), dim=1)
        else:
            changed, kept = x.split((self.changed, self.kept), dim=1)
        return kept, changed

    def _merge(self, kept: Tensor, changed: Tensor) -> Tensor:
        if self.kept == 0:
            return changed
        parts = (kept, changed) if self.kept_first else (changed, kept)
        return torch.cat(parts, dim=1)

    def _params(self, kept: Tensor) -> Tensor:
        raw = self.conditioner(kept)
        n = raw.shape[0]
        # (n, changed·P, *positions) → (n, changed, *positions, P): the kernel wants params last.
        return raw.view(n, self.changed, self.kernel.params, *self.positions).movedim(2, -1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        kept, changed = self._split(x)
        z, logabsdet = self.kernel(changed, self._params(kept))
        return self._merge(kept, z), sum_event(logabsdet)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        kept, changed = self._split(z)
        x, logabsdet = self.kernel(changed, self._params(kept), inverse=True)
        return self._merge(kept, x), sum_event(logabsdet)

