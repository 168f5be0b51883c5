"""The standard-normal noise ε of the reparameterised posterior draws z = mean + L·f(ε).

With ``antithetic`` and an even number of draws per point, the second half of the draws takes
the first half's noise negated: antithetic variates (Hammersley & Morton, "A new Monte Carlo
technique: antithetic variates", Mathematical Proceedings of the Cambridge Philosophical Society,
1956; in variational inference, e.g. Wu, Goodman & Ermon, "Differentiable Antithetic Sampling
for Variance Reduction in Stochastic Variational Inference", AISTATS 2019). Each draw is still
N(0, I), so an average over the draws (the ELBO's Monte-Carlo estimate) keeps its expectation;
but in a pair ε, −ε the parts of the reconstruction term odd in ε cancel, so the estimate and
its gradient vary less than with independent draws. The draws of a pair are not independent, so
the importance-weighted estimates (IWAE, log p(x)) keep independent noise.
"""

from __future__ import annotations

import torch
from torch import Tensor


def posterior_noise(
    draws: int,
    points: int,
    features: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    antithetic: bool = False,
) -> Tensor:
    """ε ~ N(0, I) of shape ``(draws, points, features)``; with ``antithetic`` (``draws`` even)
    draw ``draws // 2 + i`` is draw ``i`` negated."""
    if not antithetic:
        return torch.randn((draws, points, features), generator=generator, device=device, dtype=dtype)
    if draws % 2:
        raise ValueError(f"antithetic noise comes in pairs, so the number of draws must be even, not {draws}")
    half = torch.randn((draws // 2, points, features), generator=generator, device=device, dtype=dtype)
    return torch.cat([half, -half])
