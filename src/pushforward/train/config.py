"""The trainer's settings, every one overridable with ``--set key=value``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pushforward.errors import UserError


@dataclass
class TrainConfig:
    """Optimisation settings shared by every family (a model may change the defaults).

    The budget is a time in seconds and/or a number of steps; training stops at whichever comes
    first, and the learning-rate schedule is laid over that budget (progress = the larger of
    the time and step fractions), so a 60 s run anneals fully within its 60 s.
    """

    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup: float = 0.02  # fraction of the budget spent warming up linearly
    final_lr: float = 0.0  # as a fraction of lr at the end of the budget
    grad_clip: float = 5.0  # max gradient norm; 0 turns clipping off
    validations: int = 25  # validations spread over the budget
    # Under a time budget, the most of the elapsed time validation may take: a validation that
    # falls due while validation has used more waits until it is back under this share. Without
    # it a short budget could be spent validating (a GAN's energy distance takes about 1 s on a
    # slow CPU, so --time 5 made 7 steps). Step budgets validate on schedule, reproducibly.
    validation_share: float = 0.25
    patience: int = 10  # stop after this many validations without improvement; 0 = never
    validation_batch: int = 8192
    ema_decay: float = 0.0  # exponential moving average of weights; 0 = off
    # Keep the weights with the best validation score (True) or those of the latest validation,
    # i.e. the final weights (False): for models whose score cannot see the defects that
    # matter (a GAN's energy distance) and whose schedule ends at their best.
    keep_best: bool = True

    def __post_init__(self) -> None:
        finite = math.isfinite
        checks = [
            ("batch_size", self.batch_size >= 1, "must be at least 1", "use --set batch_size=512"),
            ("lr", self.lr > 0 and finite(self.lr), "must be a positive number", "use --set lr=1e-3"),
            ("weight_decay", self.weight_decay >= 0 and finite(self.weight_decay), "must be ≥ 0", "use --set weight_decay=0"),
            ("beta1", 0 <= self.beta1 < 1, "must lie in [0, 1)", "use --set beta1=0.9"),
            ("beta2", 0 <= self.beta2 < 1, "must lie in [0, 1)", "use --set beta2=0.999"),
            ("warmup", 0 <= self.warmup < 1, "is a fraction of the budget in [0, 1)", "use --set warmup=0.02"),
            ("final_lr", 0 <= self.final_lr <= 1, "is a fraction of lr in [0, 1]", "use --set final_lr=0"),
            ("grad_clip", self.grad_clip >= 0 and finite(self.grad_clip), "must be ≥ 0", "use --set grad_clip=5 (0 turns clipping off)"),
            ("validations", self.validations >= 1, "must be at least 1", "use --set validations=25"),
            ("validation_share", 0 < self.validation_share <= 1, "is a share of the time in (0, 1]", "use --set validation_share=0.25"),
            ("patience", self.patience >= 0, "must be ≥ 0", "use --set patience=10 (0 = never stop early)"),
            ("validation_batch", self.validation_batch >= 1, "must be at least 1", "use --set validation_batch=8192"),
            ("ema_decay", 0 <= self.ema_decay < 1, "must lie in [0, 1)", "use --set ema_decay=0.999 (0 = off)"),
        ]
        for name, ok, requirement, fix in checks:
            if not ok:
                raise UserError(f"{name} {requirement}, not {getattr(self, name)!r}", fix)


@dataclass(frozen=True)
class Budget:
    """How long to train: seconds and/or optimizer iterations (at least one is set)."""

    seconds: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.seconds is None and self.steps is None:
            raise UserError("no training budget was given", "pass --time SECONDS and/or --steps N")
        if self.seconds is not None and not 0 < self.seconds < math.inf:
            raise UserError(f"--time must be positive and finite, not {self.seconds}", "give the training time in seconds, e.g. --time 60")
        if self.steps is not None and self.steps < 1:
            raise UserError(f"--steps must be at least 1, not {self.steps}", "give a positive number of steps")

    def progress(self, step: int, elapsed: float) -> float:
        fractions = []
        if self.seconds is not None:
            fractions.append(elapsed / self.seconds)
        if self.steps is not None:
            fractions.append(step / self.steps)
        return min(1.0, max(fractions))

    def holding_back(self, share: float) -> Budget:
        """The budget for training when ``share`` of its time is held back for work after it
        (a step budget is unchanged: that work then takes what it takes)."""
        if self.seconds is None or share <= 0:
            return self
        return Budget(seconds=self.seconds * (1.0 - share), steps=self.steps)
