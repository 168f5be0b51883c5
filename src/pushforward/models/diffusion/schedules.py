"""Noise schedules of a variance-preserving diffusion, in continuous time t ∈ [0, 1].

x_t = √ᾱ(t) x_0 + √(1 − ᾱ(t)) ε. A schedule is its ``log ᾱ(t)``; its rate is
``β(t) = −d log ᾱ / dt`` (Song et al., "Score-Based Generative Modeling through Stochastic
Differential Equations", ICLR 2021, the VP SDE). The discrete process of Ho, Jain, Abbeel
("Denoising Diffusion Probabilistic Models", NeurIPS 2020) with ``steps`` = T is this one read
on the grid t_i = i/T: ᾱ_i = ᾱ(i/T) and β_i = 1 − ᾱ_i / ᾱ_{i−1}.

* ``linear``: β(t) = T·(β_start + (β_end − β_start)·t), the continuous limit of Ho et al.'s
  linearly spaced β_i, so log ᾱ(t) = −T·(β_start·t + (β_end − β_start)·t²/2).
* ``cosine``: ᾱ(t) = f(τt)/f(0), f(u) = cos²((u + s)/(1 + s)·π/2) (Nichol & Dhariwal,
  "Improved Denoising Diffusion Probabilistic Models", ICML 2021), with s = 0.008. Their curve
  reaches ᾱ = 0 at u = 1, where β is infinite; they clip β at 0.999, we instead stop the curve
  at the τ where ᾱ = ``COSINE_FINAL_ALPHA_BAR``, so β stays finite and the ODE is not stiff.

Every schedule must end in noise: ᾱ(1) < ``MAX_FINAL_ALPHA_BAR``, or the Gaussian the sampler
starts from is not the distribution of x_1 (the common short linear schedules, e.g. T = 100
with β from 1e-4 to 0.02, end at ᾱ ≈ 0.37; they are rejected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from pushforward.device import host_precise_dtype
from pushforward.errors import UserError

MAX_FINAL_ALPHA_BAR = 1e-3
COSINE_OFFSET = 0.008
COSINE_FINAL_ALPHA_BAR = 1e-4

ScheduleKind = Literal["linear", "cosine"]


@dataclass(frozen=True)
class NoiseSchedule:
    kind: ScheduleKind = "cosine"
    steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "cosine"):
            raise UserError(f"unknown noise schedule '{self.kind}'", "use --set noise_schedule=linear or --set noise_schedule=cosine")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise UserError(f"the schedule needs at least 1 step, not {self.steps!r}", "use --set timesteps=1000")
        if self.kind == "linear" and not 0 < self.beta_start <= self.beta_end < 1:
            raise UserError(
                f"linear schedule needs 0 < beta_start <= beta_end < 1, not {self.beta_start}, {self.beta_end}",
                "use --set beta_start=1e-4 --set beta_end=0.02",
            )
        final = self.final_alpha_bar
        if not final < MAX_FINAL_ALPHA_BAR:
            needed = math.log(1 / MAX_FINAL_ALPHA_BAR) / (0.5 * (self.beta_start + self.beta_end))
            raise UserError(
                f"the {self.kind} schedule ends at alpha_bar_T = {final:.3g}, not near 0 (must be < {MAX_FINAL_ALPHA_BAR:g}), "
                "so sampling would not start from the noise the model was trained on",
                f"use more steps (--set timesteps={math.ceil(needed)} or more), a larger beta_end, or --set noise_schedule=cosine",
            )

    @property
    def final_alpha_bar(self) -> float:
        return float(self.log_alpha_bar(torch.ones((), dtype=host_precise_dtype())).exp())

    @property
    def _cosine_end(self) -> float:
        # u where f(u)/f(0) = COSINE_FINAL_ALPHA_BAR.
        s = COSINE_OFFSET
        f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
        return math.acos(math.sqrt(COSINE_FINAL_ALPHA_BAR * f0)) * 2 / math.pi * (1 + s) - s

    def log_alpha_bar(self, t: Tensor) -> Tensor:
        """log ᾱ(t), elementwise."""
        if self.kind == "linear":
            rate0, rate1 = self.steps * self.beta_start, self.steps * self.beta_end
            return -(rate0 * t + 0.5 * (rate1 - rate0) * t.square())
        s = COSINE_OFFSET
        angle = (self._cosine_end * t + s) / (1 + s) * (math.pi / 2)
        log_alpha_bar = 2 * (torch.log(torch.cos(angle)) - math.log(math.cos(s / (1 + s) * math.pi / 2)))
        # At t = 0 rounding can leave +1e-17, and σ = √(1 − ᾱ) would be NaN.
        return log_alpha_bar.clamp(max=0.0)

    def beta(self, t: Tensor) -> Tensor:
        """β(t) = −d log ᾱ(t) / dt."""
        if self.kind == "linear":
            return self.steps * (self.beta_start + (self.beta_end - self.beta_start) * t)
        s = COSINE_OFFSET
        scale = self._cosine_end / (1 + s) * (math.pi / 2)
        angle = (self._cosine_end * t + s) / (1 + s) * (math.pi / 2)
        return 2 * scale * torch.tan(angle)

    def alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(√ᾱ(t), √(1 − ᾱ(t)))``, the signal and noise scales."""
        log_alpha_bar = self.log_alpha_bar(t)
        return torch.exp(0.5 * log_alpha_bar), torch.sqrt(-torch.expm1(log_alpha_bar))

    def discrete_betas(self, dtype: torch.dtype | None = None) -> Tensor:
        """β_1..β_T of the discrete chain on the grid t_i = i/T (``dtype`` None: the CPU's
        precise dtype, float64)."""
        grid = torch.linspace(0, 1, self.steps + 1, dtype=dtype or host_precise_dtype())
        log_alpha_bar = self.log_alpha_bar(grid)
        return -torch.expm1(log_alpha_bar[1:] - log_alpha_bar[:-1])
