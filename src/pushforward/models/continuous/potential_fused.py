"""∇Φ and ΔΦ of OT-Flow's default two-layer potential with their vector-Jacobian product
written out: pure kernels, and one autograd node built on them.

Onken, Wu Fung, Li, Ruthotto, "OT-Flow: Fast and accurate continuous normalizing flows via
optimal transport", AAAI 2021. For the ResNet of two layers (the opening layer and one residual
layer, the paper's and our default), with s = (x, t), a₀ = K₀ s + b₀, u₀ = σ(a₀),
a₁ = K₁ u₀ + b₁, σ = log cosh, σ' = tanh, σ'' = 1 − tanh² and the residual step h:

    z₀ = w + h K₁ᵀ (σ'(a₁) ⊙ w)                                  (∂(wᵀu₁)/∂u₀)
    ∇_s Φ = K₀ᵀ (σ'(a₀) ⊙ z₀) + AᵀA s + c
    Δ_x Φ = Σ_l σ''(a₀)_l z₀_l ‖K₀ₓ[l]‖² + h Σ_j σ''(a₁)_j w_j ‖(K₁ diag σ'(a₀) K₀ₓ)_j‖²
            + tr(A_xᵀ A_x)

:class:`~pushforward.models.continuous.potential.Potential` evaluates these with ordinary tensor
operations, and training could backpropagate through them: autograd records about 50 operations
per evaluation and replays about 120 in the backward, at toy sizes each costing about as much
as its arithmetic. Here the backward is the vector-Jacobian product of the formulas above
written out (about 40 operations), adding the weights' gradients into buffers in place, so
evaluations that share weights (a whole ODE solve, :mod:`.otflow_solve`) never allocate and
sum one gradient per evaluation. :class:`TwoLayerPotentialDerivatives` wraps one evaluation as
an autograd node; it is first-order only (``once_differentiable``): the closed forms are
already derivatives of Φ, and training and the adjoint method need one more.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pushforward.models.continuous.log_cosh import log_cosh_from_tanh
from pushforward.nn.tanh import tanh, tanh_


class TwoLayerWeights(NamedTuple):
    """The tensors an evaluation reads (see
    :class:`~pushforward.models.continuous.potential.PotentialWeights` for the derived ones):
    ``weight`` K₀ ``(m, d+1)``, ``bias`` b₀, ``residual_weight`` K₁ ``(m, m)``,
    ``residual_bias`` b₁, ``w``, ``gram_x`` / ``gram_t`` the x rows / t row of AᵀA,
    ``linear_bias`` c, ``opening_trace`` Σ_k K₀ₓ[l, k]², ``quadratic_trace`` tr(A_xᵀA_x) and
    ``mixed``, the ``(m, d·m)`` matrix with (σ'(a₀) @ mixed)[k·m + j] = (K₁ diag σ'(a₀) K₀ₓ)[j, k].
    The same shapes hold the weights' gradients."""

    weight: Tensor
    bias: Tensor
    residual_weight: Tensor
    residual_bias: Tensor
    w: Tensor
    gram_x: Tensor
    gram_t: Tensor
    linear_bias: Tensor
    opening_trace: Tensor
    quadratic_trace: Tensor
    mixed: Tensor

    def zeros(self) -> TwoLayerWeights:
        """Gradient buffers: zeros shaped like each weight.

        ``weight``'s buffer is stored column-major (a transposed view of a ``(d+1, m)``
        tensor). Its gradient is a sum of products with a narrow output, ``(m, n) @ (n, d+1)``,
        and on a CPU the BLAS computes those several times faster written out as the transposed
        product ``(d+1, n) @ (n, m)``, which is what a column-major output makes it do:
        9 µs against 40 µs for m = 64, n = 512, d = 2 (one thread, AMD EPYC; 2026-12-04).
        """
        weight = self.weight.new_zeros(self.weight.shape[::-1]).T
        return TwoLayerWeights(weight, *(torch.zeros_like(tensor) for tensor in self[1:]))


class Intermediates(NamedTuple):
    """What the vector-Jacobian product reuses from the evaluation (σ' = s, σ'' ⊙ z = c)."""

    x: Tensor
    t: Tensor | float
    s0: Tensor
    u0: Tensor
    s1: Tensor
    g1: Tensor
    z0: Tensor
    g0: Tensor
    c0: Tensor
    c1: Tensor
    products: Tensor
    norms: Tensor


def _plus_time_times(base: Tensor, t: Tensor | float, slope: Tensor) -> Tensor:
    """``base + t · slope`` for a 0-d tensor or a Python float ``t`` (a solver's stage time)."""
    if isinstance(t, Tensor):
        return torch.addcmul(base, t, slope)
    return torch.add(base, slope, alpha=t)


def _add_time_times_(target: Tensor, t: Tensor | float, slope: Tensor) -> Tensor:
    """``target += t · slope`` in place, for a 0-d tensor or a Python float ``t``."""
    if isinstance(t, Tensor):
        return target.addcmul_(t, slope)
    return target.add_(slope, alpha=t)


def _squares_summed_over_blocks(products: Tensor) -> Tensor:
    """``products.square().sum(dim=1)`` for ``(n, d, m)``, one block at a time: a reduction over
    the middle dimension walks memory with stride m (37 µs against 23 µs for n = 512, d = 2,
    m = 64)."""
    norms = products[:, 0].square()
    for k in range(1, products.shape[1]):
        norms.addcmul_(products[:, k], products[:, k])
    return norms


class RowMajorFactors(NamedTuple):
    """Row-major (contiguous) copies of the weight-only factors the kernels multiply by, made
    once per solve (:func:`row_major_factors`) rather than as views at every evaluation.

    The BLAS takes its fast path for a contiguous factor. With a transposed view instead, on
    the Intel Xeon of 2026-12-05 (one thread, n = 512, m = 64, d = 2): ∇Φ's last product took
    112 µs instead of 13, its first 34 µs instead of 6, and the products by K₁ᵀ and mixedᵀ
    47 and 80 µs instead of 41 and 69. A view costs a dispatched operation per evaluation too.
    """

    weight_rows: Tensor  # K₀ᵀ, (d+1, m)
    weight_x: Tensor  # K₀ₓ, (m, d)
    weight_x_rows: Tensor  # K₀ₓᵀ, (d, m)
    weight_t: Tensor  # K₀ₜ, (m,)
    residual_rows: Tensor  # K₁ᵀ, (m, m)
    gram_x_rows: Tensor  # the x rows of AᵀA, transposed: (d+1, d)
    mixed_rows: Tensor  # mixedᵀ, (d·m, m)


def row_major_factors(weights: TwoLayerWeights) -> RowMajorFactors:
    """The :class:`RowMajorFactors` of ``weights`` (not recorded by autograd: the kernels'
    callers differentiate through the weights themselves)."""
    with torch.no_grad():
        d = weights.gram_x.shape[0]
        weight_x = weights.weight[:, :d]
        return RowMajorFactors(
            weight_rows=weights.weight.T.contiguous(),
            weight_x=weight_x.contiguous(),
            weight_x_rows=weight_x.T.contiguous(),
            weight_t=weights.weight[:, d].contiguous(),
            residual_rows=weights.residual_weight.T.contiguous(),
            gram_x_rows=weights.gram_x.T.contiguous(),
            mixed_rows=weights.mixed.T.contiguous(),
        )


def derivatives(
    x: Tensor, t: Tensor | float, weights: TwoLayerWeights, step: float, factors: RowMajorFactors | None = None
) -> tuple[Tensor, Tensor, Intermediates]:
    """``(∇_s Φ (n, d+1), Δ_x Φ (n,), intermediates)`` at points ``x`` ``(n, d)`` and one time
    ``t`` (a 0-d tensor or a float). ``factors`` (:func:`row_major_factors` of ``weights``) lets
    a solve make them once."""
    W = weights
    F = factors if factors is not None else row_major_factors(weights)
    n, d = x.shape
    a0 = torch.addmm(_plus_time_times(W.bias, t, F.weight_t), x, F.weight_x_rows)
    s0 = tanh(a0)  # torch.tanh or 2σ(2a) − 1, whichever this CPU runs faster
    u0 = log_cosh_from_tanh(a0, s0)
    s1 = tanh_(torch.addmm(W.residual_bias, u0, F.residual_rows))
    g1 = s1 * W.w  # σ'(a₁) ⊙ w
    z0 = torch.addmm(W.w, g1, W.residual_weight, alpha=step)
    g0 = s0 * z0  # σ'(a₀) ⊙ z₀
    # ∇Φ has d + 1 columns: its products are computed transposed, (d+1, n), as for the weight
    # gradients in TwoLayerWeights.zeros (27 µs against 40 for the last product); the caller
    # gets the (n, d+1) transpose of that, a column-major view.
    linear = torch.addmm(_plus_time_times(W.linear_bias, t, W.gram_t).unsqueeze(1), F.gram_x_rows, x.T)
    gradient = torch.addmm(linear, F.weight_rows, g0.T).T
    # σ''(a) ⊙ z = z − (σ'(a) ⊙ z) ⊙ σ'(a): one operation on the products above.
    c0 = torch.addcmul(z0, g0, s0, value=-1)
    c1 = torch.addcmul(W.w, g1, s1, value=-1)
    products = (s0 @ W.mixed).view(n, d, -1)  # K₁ diag σ'(a₀) K₀ₓ, one (d, m) block per point
    norms = _squares_summed_over_blocks(products)  # ‖(K₁ diag σ'(a₀) K₀ₓ)_j‖², (n, m)
    trace = torch.addmv(W.quadratic_trace, c0, W.opening_trace).add_((c1 * norms).sum(dim=1), alpha=step)
    return gradient, trace, Intermediates(x, t, s0, u0, s1, g1, z0, g0, c0, c1, products, norms)


def derivatives_vjp(
    saved: Intermediates,
    weights: TwoLayerWeights,
    step: float,
    grad_gradient: Tensor,
    grad_trace: Tensor,
    accumulate: TwoLayerWeights,
    factors: RowMajorFactors | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The vector-Jacobian product of :func:`derivatives` for upstream gradients ``grad_gradient``
    ``(n, d+1)`` and ``grad_trace`` ``(n,)``: adds the weights' gradients into ``accumulate``
    (in place) and returns those of the points ``(n, d)`` and, for a tensor time, of the time
    (0-d; None for a float time)."""
    W, S, G = weights, saved, accumulate
    F = factors if factors is not None else row_major_factors(weights)
    x, t = S.x, S.t
    n, d = x.shape
    trace_column = grad_trace.unsqueeze(1)

    # ∇Φ = linear + g₀ K₀ and linear = x (AᵀA)ₓ + t (AᵀA)ₜ + c.
    G.weight.addmm_(S.g0.T, grad_gradient)
    G.gram_x.addmm_(x.T, grad_gradient)
    column_sums = grad_gradient.sum(dim=0)
    G.linear_bias.add_(column_sums)
    _add_time_times_(G.gram_t, t, column_sums)
    # Row-major (n, d): a product added into a column-major d_x below took 71 µs against 19
    # (Intel Xeon, 2026-12-05).
    d_x = grad_gradient @ F.gram_x_rows
    d_g0 = grad_gradient @ F.weight_rows

    # ΔΦ = tr_A + c₀ · ‖K₀ₓ‖² + h Σ_j c₁_j norms_j with norms = Σ_k products², c = σ''(a) ⊙ z.
    G.quadratic_trace.add_(grad_trace.sum())
    G.opening_trace.addmv_(S.c0.T, grad_trace)
    d_c0 = trace_column * W.opening_trace
    d_c1 = (step * trace_column) * S.norms
    d_products = S.products * ((2 * step) * trace_column * S.c1).unsqueeze(1)
    flat_d_products = d_products.view(n, -1)
    G.mixed.addmm_(S.s0.T, flat_d_products)
    d_s0 = flat_d_products @ F.mixed_rows

    # c₀ = z₀ − g₀ ⊙ s₀ and g₀ = s₀ ⊙ z₀.
    d_g0.addcmul_(d_c0, S.s0, value=-1)
    d_s0.addcmul_(d_c0, S.g0, value=-1).addcmul_(d_g0, S.z0)
    d_z0 = d_c0.addcmul_(d_g0, S.s0)
    # c₁ = w − g₁ ⊙ s₁, z₀ = w + h g₁ K₁ and g₁ = s₁ ⊙ w.
    d_g1 = torch.addmm(d_c1 * S.s1, d_z0, F.residual_rows, alpha=step, beta=-1)
    d_s1 = torch.addcmul(d_g1 * W.w, d_c1, S.g1, value=-1)
    # w's gradient: the three terms summed over the points in one reduction.
    G.w.add_(torch.add(d_c1, d_z0).addcmul_(d_g1, S.s1).sum(dim=0))
    G.residual_weight.addmm_(S.g1.T, d_z0, alpha=step)
    # s₁ = tanh a₁, a₁ = u₀ K₁ᵀ + b₁.
    d_a1 = d_s1.addcmul_(d_s1 * S.s1, S.s1, value=-1)
    G.residual_weight.addmm_(d_a1.T, S.u0)
    G.residual_bias.add_(d_a1.sum(dim=0))
    # u₀ = log cosh a₀ (σ' = s₀), s₀ = tanh a₀, a₀ = x K₀ₓᵀ + t K₀ₜ + b₀.
    d_a0 = (d_a1 @ W.residual_weight).mul_(S.s0).add_(d_s0).addcmul_(d_s0 * S.s0, S.s0, value=-1)
    d_x.addmm_(d_a0, F.weight_x)
    d_bias = d_a0.sum(dim=0)
    G.bias.add_(d_bias)
    G.weight[:, :d].addmm_(d_a0.T, x)
    _add_time_times_(G.weight[:, d], t, d_bias)
    d_t = d_bias @ F.weight_t + column_sums @ W.gram_t if isinstance(t, Tensor) else None
    return d_x, d_t


class TwoLayerPotentialDerivatives(torch.autograd.Function):
    """``(∇_s Φ, Δ_x Φ)`` for ``x`` of shape ``(n, d)`` and a scalar time ``t`` (a 0-d tensor),
    given the eleven :class:`TwoLayerWeights` in order and the residual step, as one node."""

    @staticmethod
    def forward(ctx, x: Tensor, t: Tensor, *weights_and_step: object) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        *tensors, step = weights_and_step
        weights = TwoLayerWeights(*tensors)  # type: ignore[arg-type]
        gradient, trace, saved = derivatives(x, t, weights, float(step))  # type: ignore[arg-type]
        ctx.step = float(step)  # type: ignore[arg-type]
        ctx.save_for_backward(*weights, *saved)
        return gradient, trace

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_gradient: Tensor, grad_trace: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        stored = ctx.saved_tensors
        count = len(TwoLayerWeights._fields)
        weights = TwoLayerWeights(*stored[:count])
        saved = Intermediates(*stored[count:])
        gradients = weights.zeros()
        d_x, d_t = derivatives_vjp(saved, weights, ctx.step, grad_gradient, grad_trace, gradients)
        assert isinstance(saved.t, Tensor) and d_t is not None
        return (d_x, d_t.reshape(saved.t.shape) if ctx.needs_input_grad[1] else None, *gradients, None)
