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
Only the points x drive the field; the other three components integrate along.
"""

from __future__ import annotations

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
from pushforward.models.continuous.solvers import fixed_step_nodes

# The RK4 stages: (fraction of the step at which each evaluates, weight in the update).
_RK4_WEIGHTS = (1 / 6, 1 / 3, 1 / 3, 1 / 6)


class _Stage:
    """One evaluation's record: what the vector-Jacobian product of the dynamics needs."""

    __slots__ = ("saved", "gradient", "sign")

    def __init__(self, saved: Intermediates, gradient: Tensor, sign: Tensor) -> None:
        self.saved, self.gradient, self.sign = saved, gradient, sign


def cost_dynamics(x: Tensor, t: float, weights: TwoLayerWeights, factors: RowMajorFactors, step: float) -> tuple[Tensor, _Stage]:
    """``d[x, Δlog p, L, R]/dt`` at points ``x`` ``(n, d)`` and time ``t``, ``(n, d + 3)``."""
    gradient, trace, saved = derivatives(x, t, weights, step, factors)
    d = x.shape[1]
    gradient_x = gradient[:, :d]
    speed = 0.5 * gradient_x.square().sum(dim=1)
    residual = gradient[:, d] - speed  # the HJB equation's residual ∂ₜΦ − ½‖∇ₓΦ‖²
    rate = torch.stack([trace, speed, residual.abs()], dim=1)
    return torch.cat([gradient_x.neg(), rate], dim=1), _Stage(saved, gradient, residual.sign())


def cost_dynamics_vjp(
    stage: _Stage, weights: TwoLayerWeights, factors: RowMajorFactors, step: float, upstream: Tensor, accumulate: TwoLayerWeights
) -> Tensor:
    """The vector-Jacobian product of :func:`cost_dynamics` in x, ``(n, d)``; the weights'
    gradients are added into ``accumulate``."""
    gradient = stage.gradient
    d = gradient.shape[1] - 1
    hjb = upstream[:, d + 2] * stage.sign
    # ∂/∂(∇ₓΦ) of −v̄·∇ₓΦ + L̄ ½‖∇ₓΦ‖² + R̄ |∂ₜΦ − ½‖∇ₓΦ‖²|, and ∂/∂(∂ₜΦ) = R̄ sign(·).
    grad_x = torch.addcmul(upstream[:, :d].neg(), (upstream[:, d + 1] - hjb).unsqueeze(1), gradient[:, :d])
    grad_gradient = torch.cat([grad_x, hjb.unsqueeze(1)], dim=1)
    d_x, _ = derivatives_vjp(stage.saved, weights, step, grad_gradient, upstream[:, d], accumulate, factors)
    return d_x


class OTFlowRK4Solve(torch.autograd.Function):
    """``[x(t_end), Δlog p, L, R]`` from ``x(t_start) = x`` (zeros for the integrals), ``(n, d + 3)``.

    Arguments: ``x``, ``t_start``, ``t_end``, ``steps``, ``grid_power`` (see
    :func:`~pushforward.models.continuous.solvers.fixed_step_nodes`), the residual step of the
    potential, then the eleven :class:`TwoLayerWeights` in order.
    """

    @staticmethod
    def forward(ctx, x: Tensor, t_start: float, t_end: float, steps: int, grid_power: float, step: float, *tensors: Tensor) -> Tensor:  # type: ignore[override]
        weights = TwoLayerWeights(*tensors)
        factors = row_major_factors(weights)
        n, d = x.shape
        nodes = fixed_step_nodes(t_start, t_end, steps, grid_power)
        y = torch.cat([x, x.new_zeros(n, 3)], dim=1)
        records: list[tuple[float, list[_Stage]]] = []
        for start, end in zip(nodes[:-1], nodes[1:]):
            h = end - start
            k1, s1 = cost_dynamics(y[:, :d], start, weights, factors, step)
            k2, s2 = cost_dynamics(torch.add(y[:, :d], k1[:, :d], alpha=h / 2), start + h / 2, weights, factors, step)
            k3, s3 = cost_dynamics(torch.add(y[:, :d], k2[:, :d], alpha=h / 2), start + h / 2, weights, factors, step)
            k4, s4 = cost_dynamics(torch.add(y[:, :d], k3[:, :d], alpha=h), start + h, weights, factors, step)
            for k, b in zip((k1, k2, k3, k4), _RK4_WEIGHTS):
                y = y.add(k, alpha=b * h)
            records.append((h, [s1, s2, s3, s4]))
        ctx.records, ctx.step, ctx.dimension = records, step, d
        ctx.save_for_backward(*weights)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, upstream: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        weights = TwoLayerWeights(*ctx.saved_tensors)
        factors = row_major_factors(weights)
        d, step = ctx.dimension, ctx.step
        gradients = weights.zeros()
        y_bar = upstream.clone()  # ∂loss/∂y at the end of the step being undone
        for h, (s1, s2, s3, s4) in reversed(ctx.records):
            # y' = y + h Σ bᵢ kᵢ with stage inputs y, y + h/2 k₁, y + h/2 k₂, y + h k₃ (x part).
            x4 = cost_dynamics_vjp(s4, weights, factors, step, y_bar * (_RK4_WEIGHTS[3] * h), gradients)
            k3_bar = y_bar * (_RK4_WEIGHTS[2] * h)
            k3_bar[:, :d].add_(x4, alpha=h)
            x3 = cost_dynamics_vjp(s3, weights, factors, step, k3_bar, gradients)
            k2_bar = y_bar * (_RK4_WEIGHTS[1] * h)
            k2_bar[:, :d].add_(x3, alpha=h / 2)
            x2 = cost_dynamics_vjp(s2, weights, factors, step, k2_bar, gradients)
            k1_bar = y_bar * (_RK4_WEIGHTS[0] * h)
            k1_bar[:, :d].add_(x2, alpha=h / 2)
            x1 = cost_dynamics_vjp(s1, weights, factors, step, k1_bar, gradients)
            y_bar[:, :d].add_(x1).add_(x2).add_(x3).add_(x4)
        ctx.records = None  # free the stages' tensors now rather than with the graph
        return (y_bar[:, :d] if ctx.needs_input_grad[0] else None, None, None, None, None, None, *gradients)
