"""What every continuous flow shares: sampling, the exact log-density, trajectories and NFE counts.

A continuous normalizing flow pushes z ~ N(0, I) at t = 0 to x at t = 1 along dx/dt = f(t, x)
(Chen, Rubanova, Bettencourt, Duvenaud, "Neural ordinary differential equations", NeurIPS 2018;
the "DyCon post": P. Mordant, "Deep generative models and their applications", 2021). Its
log-density follows from the instantaneous change of variables, integrated from the data back
to the noise. The models differ only in how they train f: maximum likelihood (:mod:`.cnf`),
optimal transport with a potential (:mod:`.otflow`) or regression on a path (:mod:`.flow_matching`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.unread_settings import ReadOnlyIf, RefusesUnreadSettings
from pushforward.models.base import COSTLY_DENSITY_GRID, SAMPLE_CHUNK_ROWS, GenerativeModel
from pushforward.models.continuous.fields import MLPField, RowChunkedField, SharedAtTime, VectorField
from pushforward.models.continuous.solvers import (
    ADAPTIVE_METHODS,
    FIXED_METHODS,
    FlowResult,
    ODESolver,
    integrate,
    integrate_with_log_density,
    standard_normal_log_prob,
)
from pushforward.models.row_threads import on_threads_by_rows
from pushforward.nn.mlp import ACTIVATIONS, Activation

# -- validation of settings -------------------------------------------------------------------


def check_integer(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, not {value!r}", f"use --set {name}=<integer >= {minimum}>")


def check_nonnegative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise UserError(f"{name} must be a number >= 0, not {value!r}", f"use --set {name}=<number >= 0>")


def check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise UserError(f"{name} must be a positive number, not {value!r}", f"use --set {name}=<number > 0>")


def check_choice(name: str, value: Any, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise UserError(f"'{value}' is not a valid value for {name}", f"use one of: {', '.join(choices)}")


@dataclass
class SolverSettings(RefusesUnreadSettings):
    """How a continuous flow's ODE is solved for ``log_prob`` and for ``sample``.

    ``solver`` (one of :data:`~pushforward.models.continuous.solvers.METHODS`; ``steps`` for
    fixed-step methods, ``rtol`` / ``atol`` / ``max_steps`` for adaptive ones) is the solve
    behind ``log_prob``, the trajectories and the animation: tight by default, because the KL
    gap is read to a few thousandths of a nat. ``sample_solver`` with ``sample_steps`` (the
    same tolerances when adaptive) is the solve behind ``sample``: samples of the same ODE
    need far less accuracy to be indistinguishable (on the checkerboard, RK4 with 8 steps and
    dopri5 at 1e-5 give the same energy distance to held-out data with 4× fewer evaluations);
    ``sample_grid_power`` > 1 places the fixed steps closer together towards the data (see
    :class:`~pushforward.models.continuous.solvers.ODESolver`); ``--set sample_solver=dopri5``
    samples with the tight solve. Unknown solvers and bad
    tolerances fail when the model is created.
    """

    solver: str = "dopri5"
    steps: int = 8
    rtol: float = 1e-5
    atol: float = 1e-5
    max_steps: int = 10_000
    sample_solver: str = "rk4"
    sample_steps: int = 8
    sample_grid_power: float = 1.0

    # Settings only one kind of solver reads (see pushforward.unread_settings).
    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = (
        ReadOnlyIf(("steps",), lambda h: h.solver in FIXED_METHODS, f"by a fixed-step solver ({', '.join(FIXED_METHODS)})",
                   ("solver",), "use --set solver=rk4"),
        ReadOnlyIf(("rtol", "atol", "max_steps"), lambda h: h.solver in ADAPTIVE_METHODS or h.sample_solver in ADAPTIVE_METHODS,
                   f"by an adaptive solver ({', '.join(ADAPTIVE_METHODS)})", ("solver", "sample_solver"), "use --set solver=dopri5"),
        ReadOnlyIf(("sample_steps", "sample_grid_power"), lambda h: h.sample_solver in FIXED_METHODS,
                   f"by a fixed-step sample_solver ({', '.join(FIXED_METHODS)})", ("sample_solver",), "use --set sample_solver=rk4"),
    )

    def __post_init__(self) -> None:
        self.ode_solver()
        self.sampling_solver()

    def ode_solver(self) -> ODESolver:
        return ODESolver(self.solver, self.steps, self.rtol, self.atol, max_steps=self.max_steps)

    def sampling_solver(self) -> ODESolver:
        return ODESolver(
            self.sample_solver, self.sample_steps, self.rtol, self.atol, max_steps=self.max_steps, grid_power=self.sample_grid_power,
            settings_prefix="sample_",
        )


@dataclass
class ContinuousHyperparameters(SolverSettings):
    """The solver settings plus an MLP field: ``hidden_layers`` × ``hidden_features`` with
    ``activation``, ``frequencies`` Fourier features of t and ``space_features`` random Fourier
    features of x of bandwidth ``space_scale``. Training settings are the model's own.
    """

    hidden_features: int = 64
    hidden_layers: int = 3
    activation: Activation = "tanh"
    frequencies: int = 0
    space_features: int = 0
    space_scale: float = 1.0

    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = SolverSettings.unread_rules + (
        ReadOnlyIf(("space_scale",), lambda h: h.space_features > 0, "when space_features > 0", ("space_features",),
                   "use --set space_features=32"),
    )

    def __post_init__(self) -> None:
        check_integer("hidden_features", self.hidden_features, 1)
        check_integer("hidden_layers", self.hidden_layers, 1)
        check_choice("activation", self.activation, list(ACTIVATIONS))
        check_integer("frequencies", self.frequencies, 0)
        check_integer("space_features", self.space_features, 0)
        check_positive("space_scale", self.space_scale)
        super().__post_init__()

    def mlp_field(self, event_shape: tuple[int, ...]) -> MLPField:
        return MLPField(
            event_shape, self.hidden_features, self.hidden_layers, self.activation, self.frequencies, self.space_features, self.space_scale
        )


class NFECounter:
    """Function evaluations per ODE solve, averaged since the last :meth:`reset`. Solves of
    blocks of rows on several threads (:mod:`pushforward.models.row_threads`) add at once, and
    each counts as a solve: a fixed-step solve of a block costs what one of the whole batch does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.evaluations, self.solves = 0, 0

    def add(self, nfe: int) -> None:
        with self._lock:
            self.evaluations += int(nfe)
            self.solves += 1

    def per_solve(self) -> float | None:
        return self.evaluations / self.solves if self.solves else None


class ContinuousFlow(GenerativeModel):
    """A field pushing N(0, I) at t = 0 to the data at t = 1; sample and exact log_prob by ODE.

    Subclasses build the field and define :meth:`objective`. ``nfe_sample`` / ``nfe_log_prob``
    count the function evaluations per sampling and density solve. ``log_prob`` runs without
    a graph (evaluation); models trained by likelihood solve with their own training settings.
    """

    likelihood: ClassVar[str] = "exact"  # type: ignore[assignment]
    hyperparameters_class: ClassVar[type] = ContinuousHyperparameters
    #: at most this many validation points per validation (a fixed subset, so scores compare)
    validation_points: ClassVar[int] = 4096
    density_grid: ClassVar[int] = COSTLY_DENSITY_GRID  # log_prob is an ODE solve per point

    def __init__(self, event_shape: tuple[int, ...], hparams: SolverSettings, field: VectorField) -> None:
        super().__init__(event_shape, hparams)
        self.field = field
        self.solver = hparams.ode_solver()
        self.sample_solver = hparams.sampling_solver()
        self.nfe_sample = NFECounter()
        self.nfe_log_prob = NFECounter()

    # -- the interface ---------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        dtype = next(self.parameters()).dtype
        z = torch.randn((n, *self.event_shape), generator=generator, device=self.device, dtype=dtype)
        if z.device.type != "cpu":
            return self.push_noise(z)  # a GPU wants one pass
        # On a CPU the field is evaluated in cache-sized pieces (RowChunkedField). A fixed-step
        # solve moves each point by its own path, so the CPU's threads take blocks of points
        # through the whole solve (row_threads; 100,000 samples, 2 threads, 2026-12-03:
        # rectified 0.76x, cfm 0.87x, otflow 0.92x, cnf 0.84x the time of one solve with the
        # threads inside each operation). An adaptive solver steps the whole batch, so that it
        # picks the steps one solve would.
        if self.sample_solver.adaptive:
            return self.push_noise(z, SAMPLE_CHUNK_ROWS)
        # The threads evaluate the field at the same times: each time's weights are computed once.
        shared = SharedAtTime(self.field)
        return on_threads_by_rows(lambda block: self.push_noise(block, SAMPLE_CHUNK_ROWS, shared), z)

    @torch.no_grad()
    def push_noise(self, z: Tensor, chunk_rows: int | None = None, field: VectorField | None = None) -> Tensor:
        """The sample solve: the noise ``z`` at t = 0 carried to t = 1 (one solve, NFE counted),
        along ``field`` (default: the model's), evaluated ``chunk_rows`` points at a time
        (``None``: all at once)."""
        field = self.field if field is None else field
        field = field if chunk_rows is None else RowChunkedField(field, chunk_rows)
        solution = integrate(field, z, [0.0, 1.0], self.sample_solver)
        self.nfe_sample.add(solution.nfe)
        final = solution.final
        assert isinstance(final, Tensor)
        return final

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density: the flow from x at t = 1 back to z at t = 0 with the exact trace."""
        with torch.no_grad():
            result = self.flow_with_log_density(x, 1.0, 0.0, self.solver)
        self.nfe_log_prob.add(result.nfe)
        return standard_normal_log_prob(result.y) - result.delta_log_p

    # -- what the plots and the subclasses use ---------------------------------------------

    def flow_with_log_density(self, x: Tensor, t_start: float, t_end: float, solver: ODESolver) -> FlowResult:
        """Flow ``x`` from ``t_start`` to ``t_end`` with ``log p_{t_end}(y) − log p_{t_start}(x)``."""
        return integrate_with_log_density(self.field, x, t_start, t_end, solver, divergence="exact")

    @torch.no_grad()
    def log_prob_at(self, x: Tensor, t: float) -> Tensor:
        """``log p_t(x)``: the density of the flow's state at time ``t`` (t = 1 is the model)."""
        if t <= 0:
            return standard_normal_log_prob(x)
        result = self.flow_with_log_density(x, t, 0.0, self.solver)
        return standard_normal_log_prob(result.y) - result.delta_log_p

    @torch.no_grad()
    def trajectories(self, z: Tensor, times: Tensor) -> Tensor:
        """States of the flow started at ``z`` (t = 0) at each of ``times``: ``(len(times), *z.shape)``."""
        states = integrate(self.field, z.to(self.device), times, self.solver).states
        assert isinstance(states, Tensor)
        return states

    def reset_nfe(self) -> None:
        self.nfe_sample.reset()
        self.nfe_log_prob.reset()

    def divergence_advice(self) -> str | None:
        return (
            "lower the learning rate (--set lr=...), use more solver steps or tighter tolerances, "
            "or regularise the field more"
        )

    def validation_subset(self, x: Tensor) -> Tensor:
        return x[: self.validation_points]
