"""Discriminator rejection sampling: acceptance probabilities from a discriminator's logits.

S. Azadi, C. Olsson, T. Darrell, I. Goodfellow, A. Odena, "Discriminator rejection sampling",
ICLR 2019. A discriminator trained with the logistic loss to tell data (density p) from a frozen
generator's samples (density q) has, at its optimum, the logit D̃(x) = log p(x)/q(x)
(Goodfellow et al., 2014, Proposition 1). Rejection sampling with proposal q and bound M then
accepts x with probability min(1, p(x) / (M q(x))) = min(1, exp(D̃(x) − log M)), and what it
returns has the density

    min(q(x), p(x)/M) / Z:

p itself when M ≥ max p/q (the paper's D̃* = log M, estimated as the largest logit on a burn-in
batch), and otherwise q with its excess over p/M cut off. The second reading is what a GAN
needs: where the generator puts mass the data do not have — the thin bridges between a grid's
modes, the spill over a checkerboard's edges — p/q is tiny and the samples are rejected, while
where q ≤ p/M nothing changes. The exact bound is rarely usable: where the generator is too
*thin* (its clusters narrower than the data's) p/q is large and badly estimated, M becomes huge
and the acceptance rate collapses (0.1 % on the grid of 25). The paper shifts the acceptance to
σ(F(x) − γ), F the logit of exp(D̃(x) − D̃*), for the same reason; its sigmoid never accepts
surely, so how much of each mode survives depends on the spread of the logits inside it, which
unbalanced the grid's modes in our measurements (mode KL 0.012–0.03), where a fixed log M below
the modes' logits keeps every in-mode sample with probability 1.

Everything here is a function of logits (and, for the loop, of a proposal callable): no network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from pushforward.device import precise_dtype
from pushforward.errors import UserError


def acceptance_probability(logits: Tensor, log_bound: float | Tensor) -> Tensor:
    """min(1, exp(D̃(x) − log M)): the probability of accepting each proposal (float64, or
    float32 on MPS)."""
    dtype = precise_dtype(logits.device)
    bound = torch.as_tensor(log_bound, dtype=dtype, device=logits.device)
    return torch.exp((logits.to(dtype) - bound).clamp(max=0.0))


@dataclass(frozen=True)
class Calibration:
    """What the sampler fixes before drawing: log M and the expected acceptance rate."""

    log_bound: float
    acceptance_rate: float


def calibrate(burn_in_logits: Tensor, log_bound: float | None = None) -> Calibration:
    """log M = ``log_bound``, or the largest burn-in logit when it is ``None`` (exact rejection
    sampling if the logits were exact log-ratios); the acceptance rate is the burn-in's mean."""
    if burn_in_logits.numel() == 0 or not torch.isfinite(burn_in_logits).all():
        raise UserError(
            "the discriminator's logits on the burn-in proposals are not finite",
            "the calibrated discriminator is broken: fit again, or use --set sampler=generator",
        )
    bound = float(burn_in_logits.max()) if log_bound is None else float(log_bound)
    rate = float(acceptance_probability(burn_in_logits, bound).mean())
    return Calibration(bound, rate)


def candidate_bounds(burn_in_logits: Tensor, bounds: list[float | None], min_acceptance: float) -> list[float]:
    """The distinct values of ``bounds`` (``None``: the exact bound, the largest burn-in logit)
    plus the exact bound, ascending, keeping those whose acceptance rate on the burn-in is at
    least ``min_acceptance``. The lowest bound given is always kept, so the list is never empty."""
    exact = float(burn_in_logits.max())
    values = sorted({exact if b is None else float(b) for b in [*bounds, None]})
    usable = [b for b in values if calibrate(burn_in_logits, b).acceptance_rate >= min_acceptance]
    return usable or values[:1]


def rejection_sample(
    propose: Callable[[int], tuple[Tensor, Tensor]],
    n: int,
    calibration: Calibration,
    *,
    generator: torch.Generator | None = None,
    min_acceptance: float = 0.01,
    chunk: int = 65536,
) -> Tensor:
    """Exactly ``n`` accepted proposals.

    ``propose(m)`` returns ``m`` candidate samples and their discriminator logits. Proposals are
    drawn in batches sized from the expected acceptance rate (at most ``chunk``), each accepted
    when a uniform draw (from ``generator``) falls below its acceptance probability. If the
    expected rate is below ``min_acceptance``, or the proposals needed exceed ``n /
    min_acceptance`` (plus one batch), a :class:`UserError` says so instead of looping for ever.
    """
    if n < 1:
        raise ValueError(f"cannot draw {n} samples")
    advice = "lower the bound (--set drs_log_bound=-3.5) or use --set sampler=generator"
    if calibration.acceptance_rate < min_acceptance:
        raise UserError(
            f"discriminator rejection sampling would accept only {100 * calibration.acceptance_rate:.3g} % "
            f"of the generator's samples (the floor is {100 * min_acceptance:g} %)",
            advice,
        )
    budget = math.ceil(n / min_acceptance)
    accepted: list[Tensor] = []
    count = proposed = 0
    while count < n:
        if proposed > budget:
            raise UserError(
                f"discriminator rejection sampling accepted {count} of {proposed} proposals "
                f"({100 * count / proposed:.3g} %), short of the {n} samples asked for",
                advice,
            )
        size = min(chunk, max(256, math.ceil(1.1 * (n - count) / max(calibration.acceptance_rate, min_acceptance))))
        samples, logits = propose(size)
        probability = acceptance_probability(logits, calibration.log_bound)
        uniform = torch.rand(size, generator=generator, device=logits.device, dtype=precise_dtype(logits.device))
        keep = samples[uniform < probability]
        accepted.append(keep[: n - count])
        count += min(keep.shape[0], n - count)
        proposed += size
    return torch.cat(accepted)
