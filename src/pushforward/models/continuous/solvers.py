"""One entry point, :func:`odeint`, for every ODE solver; and the flow of a field with its
log-density (the instantaneous change of variables).

Methods (``ODESolver.method``):

* ``"euler"``, ``"midpoint"``, ``"rk4"`` — fixed-step explicit Runge–Kutta methods of our own,
  of order 1, 2 and 4, with ``steps`` equal steps over the whole time span; differentiated by
  plain backpropagation through the steps. Cheap, predictable, what OT-Flow trains with.
* ``"dopri5"``, ``"bosh3"``, ``"dopri8"``, ``"adaptive_heun"`` — torchdiffeq's adaptive
  Runge–Kutta methods with relative / absolute tolerances ``rtol`` / ``atol`` and at most
  ``max_steps`` accepted steps; ``adjoint=True`` differentiates them by the adjoint method in
  O(1) memory (Chen, Rubanova, Bettencourt, Duvenaud, "Neural ordinary differential equations",
  NeurIPS 2018; J. R. Dormand, P. J. Prince, "A family of embedded Runge-Kutta formulae", 1980).

A state is a tensor or a tuple of tensors (e.g. ``(x, log-density change)``); dynamics are
``dynamics(t, state) -> d state / dt`` with ``t`` a 0-d tensor. Every solve counts its function
evaluations (NFE), the cost measure of continuous flows.

A failed solve (the adaptive step underflows, too many steps) raises
:class:`~pushforward.errors.NumericalError` with the cause and what to change; bad settings
raise :class:`~pushforward.errors.UserError` when the :class:`ODESolver` is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union

import torch
from torch import Tensor, nn

from pushforward.device import precise_dtype
from pushforward.errors import NumericalError, UserError, suggest
from pushforward.models.continuous.divergence import (
    ProbeKind,
    divergence_exact,
    divergence_hutchinson,
    sample_probe,
)

State = Union[Tensor, tuple[Tensor, ...]]
Dynamics = Callable[[Tensor, State], State]

FIXED_METHODS: tuple[str, ...] = ("euler", "midpoint", "rk4")
ADAPTIVE_METHODS: tuple[str, ...] = ("dopri5", "bosh3", "dopri8", "adaptive_heun")
METHODS: tuple[str, ...] = FIXED_METHODS + ADAPTIVE_METHODS
ORDERS: dict[str, int] = {"euler": 1, "midpoint": 2, "rk4": 4}

# The classical fourth-order Runge–Kutta method (Kutta, 1901) as its tableau: stage i evaluates
# the dynamics at t + cᵢh and y + cᵢh × the previous stage's derivative (the tableau is
# diagonal), and the step adds h Σ bᵢ × derivativeᵢ. OT-Flow's hand-differentiated training
# solve (otflow_solve) reads the same numbers.
RK4_NODES: tuple[float, ...] = (0.0, 0.5, 0.5, 1.0)
RK4_WEIGHTS: tuple[float, ...] = (1 / 6, 1 / 3, 1 / 3, 1 / 6)


@dataclass(frozen=True)
class ODESolver:
    """How to solve an ODE: the method and its settings, validated when built.

    ``steps`` and ``grid_power`` apply to the fixed-step methods: ``steps`` steps over the whole
    span, at the fractions 1 − (1 − i/steps)^grid_power of each interval of the requested
    times, so equal steps at 1 and steps that shrink towards the interval's end above 1 (a
    flow whose field changes fastest there, as flow matching's near the data, is solved more
    accurately for the same evaluations). ``rtol`` / ``atol`` / ``max_steps`` / ``adjoint``
    apply to the adaptive ones.
    """

    method: str = "dopri5"
    steps: int = 8
    rtol: float = 1e-5
    atol: float = 1e-5
    adjoint: bool = False
    max_steps: int = 10_000
    grid_power: float = 1.0
    #: how the user's settings name this solve's method, steps and tolerances: "" for
    #: ``solver`` / ``steps`` / ``rtol``, "sample_" for ``sample_solver`` / ``sample_steps``,
    #: "train_" for ``train_solver`` / ...; only the error messages use it.
    settings_prefix: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        prefix = self.settings_prefix
        if self.method not in METHODS:
            raise UserError(f"unknown ODE solver '{self.method}' ({prefix}solver)", suggest(str(self.method), list(METHODS)))
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise UserError(f"{prefix}steps must be an integer >= 1, not {self.steps!r}", f"use e.g. --set {prefix}steps=8")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise UserError(f"{prefix}{name} must lie in (0, 1), not {value!r}", f"use e.g. --set {prefix}{name}=1e-5")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise UserError(f"max_steps must be an integer >= 1, not {self.max_steps!r}", "use e.g. --set max_steps=10000")
        power = self.grid_power
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 < power < float("inf"):
            raise UserError(f"{prefix}grid_power must be a positive number, not {power!r}", f"use e.g. --set {prefix}grid_power=1.5 (1: equal steps)")
        if self.adjoint and self.method in FIXED_METHODS:
            raise UserError(
                f"the adjoint method needs an adaptive solver, not '{self.method}'",
                f"use --set {prefix}solver=dopri5 with adjoint, or turn adjoint off (fixed steps backpropagate directly)",
            )

    @property
    def adaptive(self) -> bool:
        return self.method in ADAPTIVE_METHODS

    def describe(self) -> str:
        if self.adaptive:
            return f"{self.method} (rtol {self.rtol:g}, atol {self.atol:g})"
        return f"{self.method} with {self.steps} steps"


@dataclass
class ODESolution:
    """States at the requested times (each tensor stacked along a new first axis) and the NFE."""

    states: State
    nfe: int

    @property
    def final(self) -> State:
        """The state at the last requested time."""
        if isinstance(self.states, tuple):
            return tuple(s[-1] for s in self.states)
        return self.states[-1]


def odeint(
    dynamics: Dynamics,
    y0: State,
    times: Tensor | Sequence[float],
    solver: ODESolver | None = None,
    *,
    adjoint_params: Sequence[Tensor] | None = None,
) -> ODESolution:
    """Solve ``dy/dt = dynamics(t, y)`` from ``y(times[0]) = y0``; states at every time in ``times``.

    ``times`` is increasing or decreasing (at least two). ``adjoint_params`` are the parameters
    the adjoint method differentiates (default: those of ``dynamics`` when it is a module).
    """
    solver = solver or ODESolver()
    reference = y0[0] if isinstance(y0, tuple) else y0
    times = torch.as_tensor(times, dtype=reference.dtype, device=reference.device)
    if times.ndim != 1 or times.numel() < 2:
        raise ValueError("times must be a 1-D sequence of at least two times")
    counted = _Counted(dynamics, watch=solver.adaptive)
    if solver.adaptive:
        states = _adaptive(counted, y0, times, solver, adjoint_params)
    else:
        states = _fixed(counted, y0, times, solver)
    return ODESolution(states, counted.calls)


class _Counted(nn.Module):
    """Wraps dynamics to count evaluations (an ``nn.Module`` so torchdiffeq's adjoint accepts it)."""

    def __init__(self, dynamics: Dynamics, watch: bool = False) -> None:
        super().__init__()
        self.dynamics = dynamics  # registered as a submodule when it is one
        self.calls = 0
        self.watch = watch
        self.nonfinite = False

    def forward(self, t: Tensor, y: State) -> State:
        self.calls += 1
        out = self.dynamics(t, y)
        if self.watch and not self.nonfinite:
            # An adaptive solver meets NaN as an ever-shrinking step; remember the real cause.
            parts = out if isinstance(out, tuple) else (out,)
            self.nonfinite = not all(bool(torch.isfinite(p).all()) for p in parts)
        return out


# -- fixed-step Runge–Kutta -------------------------------------------------------------------


def _axpy(y: State, h: float, k: State) -> State:
    """``y + h k`` on a tensor or a tuple of tensors (one fused operation per tensor)."""
    if isinstance(y, tuple):
        return tuple(a.add(b, alpha=h) for a, b in zip(y, k))
    return y.add(k, alpha=h)


def _combine(y: State, ks: list[State], weights: list[float]) -> State:
    """``y + Σ w_i k_i`` (the step length already in the weights)."""
    for w, k in zip(weights, ks):
        y = _axpy(y, w, k)
    return y


def _step(f: Dynamics, method: str, t: Tensor, y: State, h: float) -> State:
    # h is a Python float so each stage's update is one fused `add(alpha=h)`: at toy sizes a
    # step costs what it dispatches, and OT-Flow backpropagates through every stage.
    if method == "euler":
        return _axpy(y, h, f(t, y))
    if method == "midpoint":
        k1 = f(t, y)
        return _axpy(y, h, f(t + h / 2, _axpy(y, h / 2, k1)))
    derivatives: list[State] = []
    for node in RK4_NODES:
        stage = y if not derivatives else _axpy(y, node * h, derivatives[-1])
        derivatives.append(f(t + node * h, stage))
    return _combine(y, derivatives, [b * h for b in RK4_WEIGHTS])


def fixed_step_nodes(a: float, b: float, count: int, power: float = 1.0) -> list[float]:
    """``count + 1`` times from ``a`` to ``b``: a + (b − a)(1 − (1 − i/count)^power)."""
    if power == 1:
        return [a + (b - a) * i / count for i in range(count)] + [b]
    return [a + (b - a) * (1.0 - (1.0 - i / count) ** power) for i in range(count)] + [b]


def _fixed(f: Dynamics, y0: State, times: Tensor, solver: ODESolver) -> State:
    span = float((times[-1] - times[0]).abs())
    outputs = [y0]
    y = y0
    for a, b in zip(times[:-1], times[1:]):
        # `steps` covers the whole span; each output interval gets its share (at least one).
        count = max(1, round(solver.steps * float((b - a).abs()) / span)) if span > 0 else 1
        nodes = fixed_step_nodes(float(a), float(b), count, solver.grid_power)
        for start, end in zip(nodes[:-1], nodes[1:]):
            y = _step(f, solver.method, torch.as_tensor(start, dtype=times.dtype, device=times.device), y, end - start)
        outputs.append(y)
    if isinstance(y0, tuple):
        return tuple(torch.stack([o[j] for o in outputs]) for j in range(len(y0)))
    return torch.stack(outputs)


# -- adaptive (torchdiffeq) ------------------------------------------------------------------


def _adaptive(f: _Counted, y0: State, times: Tensor, solver: ODESolver, adjoint_params: Sequence[Tensor] | None) -> State:
    import torchdiffeq

    # torchdiffeq keeps its times and step sizes in float64 unless told otherwise (rtqichen/
    # torchdiffeq#223); on MPS, which has no float64, they must be float32.
    reference = y0[0] if isinstance(y0, tuple) else y0
    options = {"max_num_steps": solver.max_steps, "dtype": precise_dtype(reference.device)}
    try:
        if solver.adjoint:
            params = tuple(adjoint_params) if adjoint_params is not None else tuple(f.parameters())
            return torchdiffeq.odeint_adjoint(
                f, y0, times, rtol=solver.rtol, atol=solver.atol, method=solver.method, options=options,
                adjoint_params=params,
            )
        return torchdiffeq.odeint(f, y0, times, rtol=solver.rtol, atol=solver.atol, method=solver.method, options=options)
    except AssertionError as error:
        text = str(error)
        if "underflow" in text and f.nonfinite:
            raise NumericalError(
                f"the {solver.describe()} solve produced NaN after {f.calls} evaluations: the field blew up",
                "lower the learning rate, regularise the field more, or use a fixed-step solver (--set solver=rk4)",
            ) from error
        if "underflow" in text:
            raise NumericalError(
                f"the {solver.describe()} step size underflowed after {f.calls} evaluations: the field is too stiff",
                "loosen the tolerances (--set rtol=1e-4 --set atol=1e-4), use a fixed-step solver "
                "(--set solver=rk4 --set steps=16), or regularise the field more",
            ) from error
        if "max_num_steps" in text:
            raise NumericalError(
                f"the {solver.describe()} needed more than {solver.max_steps} steps: the field is too stiff",
                "loosen the tolerances (--set rtol=1e-4 --set atol=1e-4), raise --set max_steps, "
                "use a fixed-step solver (--set solver=rk4), or regularise the field more",
            ) from error
        raise


# -- a field's flow with its log-density ------------------------------------------------------


@dataclass
class FlowResult:
    """The end of a flow started at ``x``: its state ``y`` and what was integrated along the way.

    * ``delta_log_p = log p_{t_end}(y) − log p_{t_start}(x)`` per sample, ``(n,)``;
    * ``kinetic = ∫ ‖f‖² dt`` and ``jacobian = ∫ ‖∂f/∂x‖²_F dt`` (an unbiased estimate with a
      Hutchinson probe) over the path, ``(n,)``, when asked for, else ``None``;
    * ``nfe``: evaluations of the field (each with its divergence) in the solve.
    """

    y: Tensor
    delta_log_p: Tensor
    nfe: int
    kinetic: Tensor | None = None
    jacobian: Tensor | None = None


def integrate_with_log_density(
    field: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    t_start: float,
    t_end: float,
    solver: ODESolver | None = None,
    *,
    divergence: str = "exact",
    probe: ProbeKind = "rademacher",
    regularize: bool = False,
    generator: torch.Generator | None = None,
) -> FlowResult:
    """Flow ``x`` from ``t_start`` to ``t_end`` along ``field`` while integrating
    ``d log p / dt = −div f`` (the instantaneous change of variables, Chen et al., 2018).

    ``divergence`` is ``"exact"`` (D vector–Jacobian products per evaluation) or
    ``"hutchinson"`` (one, with one ``probe`` drawn per solve as in FFJORD). With
    ``regularize=True`` the RNODE integrands ``‖f‖²`` and ``‖∂f/∂x‖²_F`` are integrated too.
    Gradients flow to the field's parameters when grad mode is on (training); otherwise the
    solve keeps no graph. Typical use, data at t = 1 and noise at t = 0::

        result = integrate_with_log_density(field, x, 1.0, 0.0, solver)
        log_p_x = standard_normal_log_prob(result.y) - result.delta_log_p
    """
    if divergence not in ("exact", "hutchinson"):
        raise ValueError(f"divergence must be 'exact' or 'hutchinson', not '{divergence}'")
    training = torch.is_grad_enabled()
    noise = sample_probe(x, probe, generator) if divergence == "hutchinson" else None
    direction = 1.0 if t_end >= t_start else -1.0

    def dynamics(t: Tensor, state: State) -> State:
        y = state[0]
        with torch.enable_grad():
            # The divergence needs autograd with respect to the state even at evaluation time.
            if not training or not y.requires_grad:
                y = y.detach().requires_grad_(True)
            f = field(t, y)
            if noise is None:
                div, frobenius = divergence_exact(f, y, create_graph=training)
            else:
                div, frobenius = divergence_hutchinson(f, y, noise, create_graph=training)
        if not training:
            f, div, frobenius = f.detach(), div.detach(), frobenius.detach()
        derivatives: tuple[Tensor, ...] = (f, -div)
        if regularize:
            # Integrands are made positive whichever way time runs, so the integrals are costs.
            kinetic = f.reshape(f.shape[0], -1).pow(2).sum(dim=1)
            derivatives += (direction * kinetic, direction * frobenius)
        return derivatives

    zeros = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    y0: tuple[Tensor, ...] = (x, zeros) + ((zeros, zeros) if regularize else ())
    params = tuple(field.parameters()) if isinstance(field, nn.Module) else None
    solution = odeint(dynamics, y0, [t_start, t_end], solver, adjoint_params=params)
    final = solution.final
    assert isinstance(final, tuple)
    if regularize:
        return FlowResult(final[0], final[1], solution.nfe, final[2], final[3])
    return FlowResult(final[0], final[1], solution.nfe)


def integrate(
    field: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    times: Tensor | Sequence[float],
    solver: ODESolver | None = None,
) -> ODESolution:
    """Flow ``x`` along ``field`` (no log-density); the states at every time in ``times``.

    Sampling is ``integrate(field, z, [0, 1], solver).final``; a trajectory asks for many times.
    """
    params = tuple(field.parameters()) if isinstance(field, nn.Module) else None
    return odeint(lambda t, y: field(t, y), x, times, solver, adjoint_params=params)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` summed over the event axes, ``(n,)``."""
    flat = z.reshape(z.shape[0], -1)
    return -0.5 * flat.pow(2).sum(dim=1) - 0.5 * flat.shape[1] * math.log(2 * math.pi)
