"""OT-Flow's training solve as one autograd node: classical RK4 on the state
``[x, Δlog p, L, R]`` with the backward through its stages written out.

Onken, Wu Fung, Li, Ruthotto, "OT-Flow: Fast and accurate continuous normalizing flows via
optimal transport", AAAI 2021: training integrates, with a few fixed RK4 steps,

    dx/dt = −∇ₓΦ,  d(Δlog p)/dt = ΔΦ,  dL/dt = ½‖∇ₓΦ‖²,  dR/dt = |∂ₜΦ − ½‖∇ₓΦ‖²|,

for the default two-layer potential (:mod:`.potential_fused`). The backward is backpropagation
through the Runge–Kutta stages (the discrete adjoint), exactly what autograd would compute
through :func:`~pushforward.models.continuous.solvers.odeint`, but each stage costs one call of
:func:`~pushforward.models.continuous.potential_fused.derivatives_vjp`, which adds the weights'
gradients into one set of buffers: autograd would record the stages' additions, the cost terms,
the concatenation and one gradient per weight per evaluation, and sum them (about a sixth of an
otflow training step at toy sizes, where each operation costs about as much as its arithmetic).
Only the points x drive the field; the other three components integrate along, so the solve
carries them apart from x: the stages' inputs and the step's update touch x alone, and each
evaluation's three rates are added into the integrals once. Against carrying the whole state
``[x, Δlog p, L, R]`` through every stage, that is about 10 fewer operations per evaluation and
0.92× the solve's time (forward and backward, 512 points, one thread, Intel Xeon, 2026-12-05).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pushforward.models.continuous.potential_fused import (
    Intermediates,
    RowMajorFactors,
    TwoLayerWeights,
    derivatives,
    derivatives_vjp,
    row_major_factors,
)
from pushforward.models.continuous.solvers import RK4_NODES, RK4_WEIGHTS, fixed_step_nodes


class _Stage:
    """One evaluation's record: what the vector-Jacobian product of the dynamics needs."""

    __slots__ = ("saved", "gradient", "sign")

    def __init__(self, saved: Intermediates, gradient: Tensor, sign: Tensor) -> None:
        self.saved, self.gradient, self.sign = saved, gradient, sign


def cost_rates(x: Tensor, t: float, weights: TwoLayerWeights, factors: RowMajorFactors, step: float) -> tuple[Tensor, Tensor, _Stage]:
    """At points ``x`` ``(n, d)`` and time ``t``: ∇ₓΦ ``(n, d)`` (the velocity is its negative)
    and the rates ``(n, 3)`` of the integrals: ΔΦ for Δlog p, ‖∇ₓΦ‖² for 2L (the transport rate
    is carried doubled and halved once after the solve) and |∂ₜΦ − ½‖∇ₓΦ‖²| for R."""
    gradient, trace, saved = derivatives(x, t, weights, step, factors)
    d = x.shape[1]
    gradient_x = gradient[:, :d]
    squared_speed = gradient_x.square().sum(dim=1)
    residual = torch.add(gradient[:, d], squared_speed, alpha=-0.5)  # the HJB equation's residual
    rates = torch.stack([trace, squared_speed, residual.abs()], dim=1)
    return gradient_x, rates, _Stage(saved, gradient, residual.sign())


class IntegralBars(NamedTuple):
    """The upstream gradients of the three integrals Δlog p, L and R, each ``(n,)``."""

    log_density: Tensor
    transport: Tensor
    hjb: Tensor


def cost_rates_vjp(
    stage: _Stage,
    weights: TwoLayerWeights,
    factors: RowMajorFactors,
    step: float,
    gradient_x_bar: Tensor,
    weight: float,
    bars: IntegralBars,
    accumulate: TwoLayerWeights,
) -> Tensor:
    """The vector-Jacobian product of :func:`cost_rates` in x, ``(n, d)``, for the upstream
    gradient ``gradient_x_bar`` of ∇ₓΦ and rates that enter the integrals with ``weight`` (h bᵢ);
    the weights' gradients are added into ``accumulate``."""
    gradient = stage.gradient
    d = gradient.shape[1] - 1
    # With ρ = R̄ sign(residual): ∂/∂(∂ₜΦ) = w ρ, and ∂/∂(∇ₓΦ) = w (L̄ − ρ) ∇ₓΦ from
    # L = ½‖∇ₓΦ‖² and the residual's −½‖∇ₓΦ‖².
    rho = bars.hjb * stage.sign
    grad_x = torch.addcmul(gradient_x_bar, (bars.transport - rho).unsqueeze(1), gradient[:, :d], value=weight)
    grad_gradient = torch.cat([grad_x, (rho * weight).unsqueeze(1)], dim=1)
    d_x, _ = derivatives_vjp(stage.saved, weights, step, grad_gradient, bars.log_density * weight, accumulate, factors)
    return d_x


Records = list[tuple[float, list[_Stage]]]
"""Each RK4 step's size h and its four stages' records, in order."""


def rk4_cost_solve(
    x: Tensor, t_start: float, t_end: float, steps: int, grid_power: float, step: float, weights: TwoLayerWeights
) -> tuple[Tensor, Tensor, Records]:
    """RK4 from ``x`` at ``t_start`` to ``t_end``: the points there ``(n, d)``, the integrals
    ``[Δlog p, L, R]`` ``(n, 3)`` and the stages' records for :func:`rk4_cost_solve_vjp`."""
    factors = row_major_factors(weights)
    nodes = fixed_step_nodes(t_start, t_end, steps, grid_power)
    integrals = x.new_zeros(x.shape[0], 3)  # Δlog p, 2L, R
    records: Records = []
    for start, end in zip(nodes[:-1], nodes[1:]):
        h = end - start
        update: Tensor | None = None
        stages: list[_Stage] = []
        gradient_x: Tensor | None = None
        for fraction, b in zip(RK4_NODES, RK4_WEIGHTS):
            stage_x = x if gradient_x is None else torch.add(x, gradient_x, alpha=-fraction * h)
            gradient_x, rates, stage = cost_rates(stage_x, start + fraction * h, weights, factors, step)
            if update is None:
                update = torch.add(x, gradient_x, alpha=-b * h)
            else:
                update.add_(gradient_x, alpha=-b * h)
            integrals.add_(rates, alpha=b * h)
            stages.append(stage)
        assert update is not None
        x = update
        records.append((h, stages))
    return x, integrals.mul_(integrals.new_tensor([1.0, 0.5, 1.0])), records


def rk4_cost_solve_vjp(records: Records, step: float, weights: TwoLayerWeights, upstream: Tensor, accumulate: TwoLayerWeights) -> Tensor:
    """Back through the stages of :func:`rk4_cost_solve` for the upstream gradient ``upstream``
    ``(n, d + 3)`` of its output ``[x, Δlog p, L, R]``: returns the points' gradient ``(n, d)``
    and adds the weights' gradients into ``accumulate``."""
    factors = row_major_factors(weights)
    d = upstream.shape[1] - 3
    bars = IntegralBars(upstream[:, d], upstream[:, d + 1], upstream[:, d + 2])
    x_bar = upstream[:, :d].clone()  # ∂loss/∂x at the end of the step being undone
    for h, stages in reversed(records):
        # x' = x − h Σ bᵢ ∇ₓΦᵢ, stage i evaluated at x − (fraction i) h ∇ₓΦᵢ₋₁: each stage's
        # ∇ₓΦ gets −h bᵢ x̄' and −(fraction i+1) h times the next stage's input gradient.
        stage_x_bars: list[Tensor] = []
        next_input_bar: Tensor | None = None
        for i in reversed(range(4)):
            gradient_x_bar = x_bar * (-RK4_WEIGHTS[i] * h)
            if next_input_bar is not None:
                gradient_x_bar.add_(next_input_bar, alpha=-RK4_NODES[i + 1] * h)
            next_input_bar = cost_rates_vjp(stages[i], weights, factors, step, gradient_x_bar, RK4_WEIGHTS[i] * h, bars, accumulate)
            stage_x_bars.append(next_input_bar)
        for stage_x_bar in stage_x_bars:  # x enters each stage's input with weight 1
            x_bar.add_(stage_x_bar)
    return x_bar


class OTFlowRK4Solve(torch.autograd.Function):
    """``[x(t_end), Δlog p, L, R]`` from ``x(t_start) = x`` (zeros for the integrals), ``(n, d + 3)``.

    Arguments: ``x``, ``t_start``, ``t_end``, ``steps``, ``grid_power`` (see
    :func:`~pushforward.models.continuous.solvers.fixed_step_nodes`), the residual step of the
    potential, then the eleven :class:`TwoLayerWeights` in order.

    The solve and its backward run in inference mode: their operations skip autograd's
    bookkeeping, about 1.3 µs of the 10–15 µs each costs at toy sizes, so the solve takes 0.91×
    the time (512 points, one thread, Intel Xeon, 2026-12-05: 4 alternating pairs of processes,
    and 20 interleaved rounds in one process, median 0.905, quartiles 0.88–0.93). The inference
    tensors stay inside the node (the records its backward reads); the output and the gradients
    it hands to autograd are normal tensors, made outside inference mode.
    """

    @staticmethod
    def forward(ctx, x: Tensor, t_start: float, t_end: float, steps: int, grid_power: float, step: float, *tensors: Tensor) -> Tensor:  # type: ignore[override]
        weights = TwoLayerWeights(*tensors)
        with torch.inference_mode():
            final, integrals, records = rk4_cost_solve(x, t_start, t_end, steps, grid_power, step, weights)
        ctx.records, ctx.step = records, step
        ctx.save_for_backward(*weights)
        return torch.cat([final, integrals], dim=1)  # a normal tensor, which autograd can attach to

    @staticmethod
    @once_differentiable
    def backward(ctx, upstream: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        weights = TwoLayerWeights(*ctx.saved_tensors)
        gradients = weights.zeros()  # normal tensors, added into in place in inference mode
        with torch.inference_mode():
            x_bar = rk4_cost_solve_vjp(ctx.records, ctx.step, weights, upstream, gradients)
        ctx.records = None  # free the stages' tensors now rather than with the graph
        return (x_bar.clone() if ctx.needs_input_grad[0] else None, None, None, None, None, None, *gradients)
