"""∇Φ and ΔΦ of OT-Flow's default two-layer potential as one autograd node with a hand-written
backward.

Onken, Wu Fung, Li, Ruthotto, "OT-Flow: Fast and accurate continuous normalizing flows via
optimal transport", AAAI 2021. For the ResNet of two layers (the opening layer and one residual
layer, the paper's and our default), with s = (x, t), a₀ = K₀ s + b₀, u₀ = σ(a₀),
a₁ = K₁ u₀ + b₁, σ = log cosh, σ' = tanh, σ'' = 1 − tanh² and the residual step h:

    z₀ = w + h K₁ᵀ (σ'(a₁) ⊙ w)                                  (∂(wᵀu₁)/∂u₀)
    ∇_s Φ = K₀ᵀ (σ'(a₀) ⊙ z₀) + AᵀA s + c
    Δ_x Φ = Σ_l σ''(a₀)_l z₀_l ‖K₀ₓ[l]‖² + h Σ_j σ''(a₁)_j w_j ‖(K₁ diag σ'(a₀) K₀ₓ)_j‖²
            + tr(A_xᵀ A_x)

:class:`~pushforward.models.continuous.potential.Potential` evaluates these with ordinary tensor
operations, and training backpropagates through them: autograd records about 50 operations per
evaluation and replays about 120 in the backward, at toy sizes each costing about as much as its
arithmetic. This node records one, and its backward is the vector-Jacobian product of the
formulas above written out (about 40 operations), so a training step does the same matrix
products with about half the operations. It is first-order only (``once_differentiable``): the
closed forms are already derivatives of Φ, and training and the adjoint method need one more.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pushforward.models.continuous.log_cosh import log_cosh


class TwoLayerPotentialDerivatives(torch.autograd.Function):
    """``(∇_s Φ, Δ_x Φ)`` for ``x`` of shape ``(n, d)`` and a scalar time ``t`` (a 0-d tensor).

    The weights are those of :class:`~pushforward.models.continuous.potential.PotentialWeights`
    plus the layers' own: ``weight`` K₀ ``(m, d+1)``, ``bias`` b₀, ``residual_weight`` K₁
    ``(m, m)``, ``residual_bias`` b₁, ``w``, ``gram_x`` / ``gram_t`` the x rows / t row of AᵀA,
    ``linear_bias`` c, ``opening_trace`` Σ_k K₀ₓ[l, k]², ``quadratic_trace`` tr(A_xᵀA_x) and
    ``mixed`` the ``(m, d·m)`` matrix with (σ'(a₀) @ mixed)[k·m + j] = (K₁ diag σ'(a₀) K₀ₓ)[j, k].
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x: Tensor,
        t: Tensor,
        weight: Tensor,
        bias: Tensor,
        residual_weight: Tensor,
        residual_bias: Tensor,
        w: Tensor,
        gram_x: Tensor,
        gram_t: Tensor,
        linear_bias: Tensor,
        opening_trace: Tensor,
        quadratic_trace: Tensor,
        mixed: Tensor,
        step: float,
    ) -> tuple[Tensor, Tensor]:
        n, d = x.shape
        weight_x, weight_t = weight[:, :d], weight[:, d]
        a0 = torch.addmm(torch.addcmul(bias, t, weight_t), x, weight_x.T)
        s0 = torch.tanh(a0)
        u0 = log_cosh(a0)
        s1 = torch.tanh(torch.addmm(residual_bias, u0, residual_weight.T))
        g1 = s1 * w  # σ'(a₁) ⊙ w
        z0 = torch.addmm(w, g1, residual_weight, alpha=step)
        g0 = s0 * z0  # σ'(a₀) ⊙ z₀
        linear = torch.addmm(torch.addcmul(linear_bias, t, gram_t), x, gram_x)
        gradient = torch.addmm(linear, g0, weight)
        # σ''(a) ⊙ z = z − (σ'(a) ⊙ z) ⊙ σ'(a): one operation on the products above.
        c0 = torch.addcmul(z0, g0, s0, value=-1)
        c1 = torch.addcmul(w, g1, s1, value=-1)
        products = (s0 @ mixed).view(n, d, -1)  # K₁ diag σ'(a₀) K₀ₓ, one (d, m) block per point
        norms = products.square().sum(dim=1)  # ‖(K₁ diag σ'(a₀) K₀ₓ)_j‖², (n, m)
        trace = torch.addmv(quadratic_trace, c0, opening_trace).add_((c1 * norms).sum(dim=1), alpha=step)
        ctx.step = step
        ctx.save_for_backward(x, t, weight, residual_weight, w, gram_x, gram_t, opening_trace, mixed, s0, u0, s1, g1, z0, g0, c0, c1, products, norms)
        return gradient, trace

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_gradient: Tensor, grad_trace: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        (x, t, weight, residual_weight, w, gram_x, gram_t, opening_trace, mixed, s0, u0, s1, g1, z0, g0, c0, c1, products, norms) = ctx.saved_tensors
        step = ctx.step
        n, d = x.shape
        weight_x, weight_t = weight[:, :d], weight[:, d]
        trace_column = grad_trace.unsqueeze(1)

        # ∇Φ = linear + g₀ K₀ and linear = x (AᵀA)ₓ + t (AᵀA)ₜ + c.
        d_weight = g0.T @ grad_gradient
        d_gram_x = x.T @ grad_gradient
        d_linear_bias = grad_gradient.sum(dim=0)
        d_gram_t = t * d_linear_bias
        d_x = grad_gradient @ gram_x.T
        d_g0 = grad_gradient @ weight.T

        # ΔΦ = tr_A + c₀ · ‖K₀ₓ‖² + h Σ_j c₁_j norms_j with norms = Σ_k products², c = σ''(a) ⊙ z.
        d_quadratic_trace = grad_trace.sum()
        d_opening_trace = c0.T @ grad_trace
        d_c0 = trace_column * opening_trace
        d_c1 = (step * trace_column) * norms
        d_products = products * ((2 * step) * trace_column * c1).unsqueeze(1)
        flat_d_products = d_products.view(n, -1)
        d_mixed = s0.T @ flat_d_products
        d_s0 = flat_d_products @ mixed.T

        # c₀ = z₀ − g₀ ⊙ s₀ and g₀ = s₀ ⊙ z₀.
        d_g0 = d_g0.addcmul_(d_c0, s0, value=-1)
        d_s0 = d_s0.addcmul_(d_c0, g0, value=-1).addcmul_(d_g0, z0)
        d_z0 = d_c0.addcmul_(d_g0, s0)
        # c₁ = w − g₁ ⊙ s₁, z₀ = w + h g₁ K₁ and g₁ = s₁ ⊙ w.
        d_g1 = torch.addmm(d_c1 * s1, d_z0, residual_weight.T, alpha=step, beta=-1)
        d_s1 = torch.addcmul(d_g1 * w, d_c1, g1, value=-1)
        d_w = d_c1.sum(dim=0) + d_z0.sum(dim=0) + (d_g1 * s1).sum(dim=0)
        d_residual_weight = g1.T @ d_z0
        d_residual_weight.mul_(step)
        # s₁ = tanh a₁, a₁ = u₀ K₁ᵀ + b₁.
        d_a1 = d_s1.addcmul_(d_s1 * s1, s1, value=-1)
        d_residual_weight.addmm_(d_a1.T, u0)
        d_residual_bias = d_a1.sum(dim=0)
        # u₀ = log cosh a₀ (σ' = s₀), s₀ = tanh a₀, a₀ = x K₀ₓᵀ + t K₀ₜ + b₀.
        d_a0 = (d_a1 @ residual_weight).mul_(s0).add_(d_s0).addcmul_(d_s0 * s0, s0, value=-1)
        d_x.addmm_(d_a0, weight_x)
        d_bias = d_a0.sum(dim=0)
        d_weight[:, :d].addmm_(d_a0.T, x)
        d_weight[:, d].add_(t * d_bias)
        d_t = None
        if ctx.needs_input_grad[1]:
            d_t = (d_bias @ weight_t + grad_gradient.sum(dim=0) @ gram_t).reshape(t.shape)
        return (
            d_x, d_t, d_weight, d_bias, d_residual_weight, d_residual_bias, d_w, d_gram_x, d_gram_t,
            d_linear_bias, d_opening_trace, d_quadratic_trace.reshape(()), d_mixed, None,
        )
