"""``cnf``: a free-form continuous flow trained by maximum likelihood, FFJORD-style, with RNODE's
optional regularisers.

* W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud, "FFJORD: Free-form
  continuous dynamics for scalable reversible generative models", ICLR 2019: the loss is the
  exact negative log-likelihood through an adaptive ODE solve, the trace by Hutchinson's
  estimator (here exact by default, since toys and tables have few dimensions).
* C. Finlay, J.-H. Jacobsen, L. Nurbekyan, A. Oberman, "How to train your neural ODE: the world
  of Jacobian and kinetic regularization", ICML 2020 (RNODE): adding ``kinetic · ∫‖f‖²dt`` and
  ``jacobian · ∫‖∂f/∂x‖²_F dt`` makes the learned dynamics straighter and smoother, so the
  adaptive solver needs fewer steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from pushforward.models.base import precise_mean, register
from pushforward.models.continuous.divergence import PROBE_KINDS
from pushforward.models.continuous.model import (
    ContinuousFlow,
    ContinuousHyperparameters,
    check_choice,
    check_nonnegative,
)
from pushforward.models.continuous.solvers import ADAPTIVE_METHODS, FIXED_METHODS, ODESolver, integrate_with_log_density, standard_normal_log_prob
from pushforward.unread_settings import ReadOnlyIf


@dataclass
class CNFHyperparameters(ContinuousHyperparameters):
    """FFJORD settings: the field and evaluation solver (shared), then training.

    Training solves with ``train_solver`` (``train_steps`` for fixed-step methods;
    ``train_rtol`` / ``train_atol`` for adaptive ones, 1e-5 as FFJORD's toys, optionally by the
    ``adjoint`` method), the trace
    ``divergence`` "exact" or "hutchinson" (with ``probe`` noise), and RNODE's ``kinetic`` and
    ``jacobian`` weights (0 = off).
    """

    train_solver: str = "dopri5"
    train_steps: int = 8
    train_rtol: float = 1e-5
    train_atol: float = 1e-5
    adjoint: bool = False
    divergence: str = "exact"
    probe: str = "rademacher"
    kinetic: float = 0.0
    jacobian: float = 0.0

    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = ContinuousHyperparameters.unread_rules + (
        ReadOnlyIf(("probe",), lambda h: h.divergence == "hutchinson", "when divergence=hutchinson", ("divergence",),
                   "use --set divergence=hutchinson"),
        ReadOnlyIf(("train_steps",), lambda h: h.train_solver in FIXED_METHODS,
                   f"by a fixed-step train_solver ({', '.join(FIXED_METHODS)})", ("train_solver",), "use --set train_solver=rk4"),
        ReadOnlyIf(("train_rtol", "train_atol"), lambda h: h.train_solver in ADAPTIVE_METHODS,
                   f"by an adaptive train_solver ({', '.join(ADAPTIVE_METHODS)})", ("train_solver",), "use --set train_solver=dopri5"),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("divergence", self.divergence, ("exact", "hutchinson"))
        check_choice("probe", self.probe, list(PROBE_KINDS))
        check_nonnegative("kinetic", self.kinetic)
        check_nonnegative("jacobian", self.jacobian)
        self.training_solver()

    def training_solver(self) -> ODESolver:
        return ODESolver(
            self.train_solver, self.train_steps, self.train_rtol, self.train_atol, adjoint=self.adjoint, max_steps=self.max_steps,
            settings_prefix="train_",
        )


# lr 1e-2 (the trainer's default is 1e-3). Checkerboard, 60 s, 2026-12-03, KL gap by dopri5 at
# 1e-5, seeds 0 / 1: lr 1e-3 0.653 (06:25 benchmark run) / 0.601; 3e-3 0.512 (seed 0); 1e-2
# 0.408 / 0.412. The sharper field costs the adaptive solver more evaluations per step: 336–373
# iterations in 60 s against 457–580 at 1e-3.
@register(
    "cnf",
    family="continuous",
    summary="FFJORD: continuous flow by maximum likelihood, RNODE regularisers optional (Grathwohl et al., 2019)",
    train_defaults={"lr": 1e-2},
)
class CNF(ContinuousFlow):
    hyperparameters_class = CNFHyperparameters

    def __init__(self, event_shape: tuple[int, ...], hparams: CNFHyperparameters) -> None:
        super().__init__(event_shape, hparams, hparams.mlp_field(event_shape))
        self.train_solver = hparams.training_solver()

    def _likelihood_flow(self, x: Tensor, solver: ODESolver, regularize: bool) -> tuple[Tensor, object]:
        hp = self.hparams
        result = integrate_with_log_density(
            self.field, x, 1.0, 0.0, solver, divergence=hp.divergence, probe=hp.probe, regularize=regularize
        )
        return standard_normal_log_prob(result.y) - result.delta_log_p, result

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        hp = self.hparams
        regularize = hp.kinetic > 0 or hp.jacobian > 0
        log_p, result = self._likelihood_flow(x, self.train_solver, regularize)
        nll = -log_p.mean()
        loss = nll
        outputs = {"nll": nll.detach(), "nfe": torch.tensor(float(result.nfe))}
        if regularize:
            kinetic, jacobian = result.kinetic.mean(), result.jacobian.mean()
            loss = loss + hp.kinetic * kinetic + hp.jacobian * jacobian
            outputs.update(kinetic=kinetic.detach(), jacobian=jacobian.detach())
        return {"loss": loss, **outputs}

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        # The training solver on a fixed subset: cheap, and what the loss optimises.
        log_p, _ = self._likelihood_flow(self.validation_subset(x), self.train_solver, regularize=False)
        return -precise_mean(log_p)
