"""OT-Flow's potential Φ(x, t) with its gradient and Laplacian in closed form.

Onken, Wu Fung, Li, Ruthotto, "OT-Flow: Fast and accurate continuous normalizing flows via
optimal transport", AAAI 2021. With s = (x, t) ∈ R^{d+1},

    Φ(s) = wᵀ N(s) + ½ sᵀ (AᵀA) s + cᵀ s + b,

where N is a ResNet with σ(a) = log cosh(a):

    u₀ = σ(K₀ s + b₀),   u_i = u_{i−1} + h σ(K_i u_{i−1} + b_i)  (i = 1 … M−1, h = 1/(M−1)),

and A is a low-rank ``rank × (d+1)`` matrix. Because σ' = tanh and σ'' = 1 − tanh², the gradient
∇_s Φ comes from one hand-written backward sweep, and the trace of the Hessian in x from the
forward Jacobians J_i = ∂u_i/∂x (the paper's Section 3): no autograd is needed in the forward
pass, which is what makes OT-Flow fast. (Training still backpropagates through these formulas.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pushforward.models.continuous.log_cosh import log_cosh, log_cosh_from_tanh
from pushforward.models.continuous.potential_fused import TwoLayerPotentialDerivatives, TwoLayerWeights
from pushforward.nn.tanh import tanh

__all__ = ["Potential", "PotentialWeights", "log_cosh"]


class Potential(nn.Module):
    """Φ(x, t) for states ``x`` of shape ``(n, d)`` and a scalar or ``(n,)`` time ``t``.

    ``width`` neurons per ResNet layer, ``layers`` = M ≥ 2 (the opening layer plus M − 1
    residual ones), ``rank`` of the quadratic term.
    """

    def __init__(self, dimension: int, width: int = 32, layers: int = 2, rank: int = 10) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError("OT-Flow's ResNet needs at least 2 layers")
        self.dimension = dimension
        inputs = dimension + 1
        self.opening = nn.Linear(inputs, width)
        self.residual = nn.ModuleList(nn.Linear(width, width) for _ in range(layers - 1))
        self.step = 1.0 / (layers - 1)
        # Start close to Φ = 0, the identity flow (as flows start near the identity): w = 0
        # and c = 0, and a small quadratic (not zero, or its gradient A s sᵀ would stay zero).
        self.w = nn.Parameter(torch.zeros(width))
        self.A = nn.Parameter(torch.empty(min(rank, inputs), inputs))
        nn.init.xavier_uniform_(self.A, gain=0.1)
        self.c = nn.Linear(inputs, 1)
        nn.init.zeros_(self.c.weight)
        nn.init.zeros_(self.c.bias)

    def _inputs(self, x: Tensor, t: Tensor | float) -> Tensor:
        n = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        column = t.reshape(1, 1).expand(n, 1) if t.numel() == 1 else t.reshape(n, 1)
        return torch.cat([x, column], dim=1)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        """Φ at each point, ``(n,)`` (plain autograd-friendly evaluation, used as a reference)."""
        s = self._inputs(x, t)
        u = log_cosh(self.opening(s))
        for layer in self.residual:
            u = u + self.step * log_cosh(layer(u))
        quadratic = 0.5 * (s @ self.A.T).pow(2).sum(dim=1)
        return u @ self.w + quadratic + self.c(s).squeeze(1)

    def weights(self) -> PotentialWeights:
        """The weight-only tensors every evaluation of ∇Φ and ΔΦ uses, formed once.

        An ODE solve evaluates the field 16 times (4 RK4 steps) with the same weights. Forming
        these products and slices once per solve, rather than once per evaluation, removes
        operations a training step records and backpropagates through 16 times (at toy sizes
        each costs about as much as its arithmetic): about 15 % of an otflow training step on
        the checkerboard (2026-12-03, one thread).
        """
        d = self.dimension
        weight = self.opening.weight  # (m, d + 1): the x columns, then the t column
        weight_x = weight[:, :d]
        gram = self.A.T @ self.A  # ∇_s ½‖A s‖² = AᵀA s
        mixed = None
        if self.residual:
            # (K₁J₀)[k, j] = Σ_l σ'(a₀)_l K₀ₓ[l, k] K₁[j, l]: one (n, m) × (m, d·m) product of
            # the slopes with this weights-only matrix, so J₀ itself is never formed.
            first = self.residual[0].weight
            mixed = (weight_x.unsqueeze(2) * first.T.unsqueeze(1)).reshape(weight_x.shape[0], -1)
        return PotentialWeights(
            weight=weight,
            weight_x=weight_x,
            weight_t=weight[:, d],
            gram_x=gram[:d],
            gram_t=gram[d],
            linear_bias=self.c.weight[0],
            opening_trace=weight_x.square().sum(dim=1),
            quadratic_trace=self.A[:, :d].square().sum(),
            mixed=mixed,
        )

    @property
    def has_two_layers(self) -> bool:
        """The default ResNet (the opening layer and one residual layer): the fused kernels' case."""
        return len(self.residual) == 1

    def two_layer_weights(self, weights: PotentialWeights | None = None) -> TwoLayerWeights:
        """The tensors the fused two-layer kernels read (:mod:`.potential_fused`), from ``weights``
        (or formed now). Only for the two-layer ResNet."""
        if not self.has_two_layers:
            raise ValueError("the fused kernels are written for the two-layer ResNet")
        shared = weights if weights is not None else self.weights()
        assert shared.mixed is not None
        residual = self.residual[0]
        return TwoLayerWeights(
            shared.weight, self.opening.bias, residual.weight, residual.bias, self.w, shared.gram_x,
            shared.gram_t, shared.linear_bias, shared.opening_trace, shared.quadratic_trace, shared.mixed,
        )

    def gradient_and_laplacian(
        self, x: Tensor, t: Tensor | float, laplacian: bool = True, weights: PotentialWeights | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(∇_s Φ, tr ∇²_x Φ)``: the gradient in (x, t), ``(n, d+1)``, and the Laplacian in x, ``(n,)``.

        The last column of the gradient is ∂Φ/∂t (the HJB penalty needs it). ``weights`` from
        :meth:`weights` lets a solve share them between its evaluations (they must come from the
        current parameters); without them they are formed here.

        Written for few, large operations, because at toy sizes every recorded tensor operation
        costs about as much as the arithmetic (the step backpropagates through all of them): the
        time enters the opening layer as a bias instead of a concatenated column; the first
        residual layer's product with the opening's Jacobian is one matrix product with a
        weights-only matrix (J₀ = ∂u₀/∂x is never formed; deeper ResNets carry J forward);
        σ' = tanh, computed once per layer, serves σ's own backward (:class:`_LogCosh`), the
        gradient's backward sweep and σ'' = 1 − tanh² in the trace; the last layer's σ, which
        only Φ itself needs, is never computed.

        The default two-layer ResNet with one shared time goes through
        :class:`~pushforward.models.continuous.potential_fused.TwoLayerPotentialDerivatives`, the
        same formulas as one autograd node with a hand-written backward: 0.90× the CPU time of an
        otflow training step (checkerboard, batch 512, one thread, interleaved rounds,
        2026-12-03; training now solves through :mod:`.otflow_solve`, 0.80× again). Deeper
        ResNets, per-point times and the gradient alone take the code below.
        """
        shared = weights if weights is not None else self.weights()
        n, d = x.shape
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if laplacian and t.numel() == 1 and self.has_two_layers:
            return TwoLayerPotentialDerivatives.apply(x, t.reshape(()), *self.two_layer_weights(shared), self.step)
        if t.numel() == 1:
            t = t.reshape(())
            opening = torch.addmm(torch.addcmul(self.opening.bias, t, shared.weight_t), x, shared.weight_x.T)
            linear = torch.addmm(torch.addcmul(shared.linear_bias, t, shared.gram_t), x, shared.gram_x)
        else:
            column = t.reshape(n, 1)
            opening = torch.addmm(self.opening.bias, x, shared.weight_x.T) + column * shared.weight_t
            linear = torch.addmm(shared.linear_bias, x, shared.gram_x) + column * shared.gram_t
        slope = _Tanh.apply(opening)
        slopes = [slope]
        residuals = len(self.residual)
        u = _LogCosh.apply(opening, slope)
        jacobian: Tensor | None = None  # J_{i−1} = ∂u_{i−1}/∂x as (n, d, m), formed only if needed
        products: list[Tensor] = []  # K_i J_{i−1}, (n, d, m), for the trace
        for i, layer in enumerate(self.residual):
            a = layer(u)
            if laplacian and i == 0:
                assert shared.mixed is not None
                products.append((slopes[0] @ shared.mixed).view(n, d, -1))
                if residuals > 1:
                    jacobian = slopes[0].unsqueeze(1) * shared.weight_x.T
            elif laplacian:
                assert jacobian is not None
                products.append((jacobian.reshape(n * d, -1) @ layer.weight.T).view(n, d, -1))
            slope = _Tanh.apply(a)
            slopes.append(slope)
            if i + 1 < residuals:  # the last layer's output u only enters Φ, never ∇Φ
                u = u.add(_LogCosh.apply(a, slope), alpha=self.step)
                if jacobian is not None:
                    jacobian = torch.addcmul(jacobian, slope.unsqueeze(1), products[-1], value=self.step)
        # Backward sweep: z_i = ∂(wᵀ u_{M−1}) / ∂u_i, from w at the top down to u_0, keeping the
        # products σ'(a_i) ⊙ z_i it forms: the trace's σ''(a_i) ⊙ z_i reuses them.
        z = self.w
        backward: list[Tensor] = [z]
        weighted: list[Tensor] = []
        for layer, slope in zip(reversed(self.residual), reversed(slopes[1:])):
            weighted.append(slope * z)
            z = torch.addmm(z, weighted[-1], layer.weight, alpha=self.step)
            backward.append(z)
        backward.reverse()  # backward[i] = gradient w.r.t. u_i, i = 0 … M−1
        weighted.append(slopes[0] * backward[0])
        weighted.reverse()  # weighted[i] = σ'(a_i) ⊙ z_i, i = 0 … M−1
        gradient = torch.addmm(linear, weighted[0], shared.weight)
        if not laplacian:
            return gradient, None

        # Laplacian in x (not t): Σ_j σ''(a_ij) z_ij ‖(K_i J_{i−1})_j‖² over the layers (the
        # opening's J_{−1} = I), plus the quadratic's tr(A_xᵀ A_x). With σ'' = 1 − tanh²,
        # σ''(a) ⊙ z = z − (tanh a ⊙ z) ⊙ tanh a: one operation on the sweep's product.
        curvature = torch.addcmul(backward[0], weighted[0], slopes[0], value=-1)
        trace = torch.addmv(shared.quadratic_trace, curvature, shared.opening_trace)
        for i, kj in enumerate(products):
            curvature = torch.addcmul(backward[i + 1], weighted[i + 1], slopes[i + 1], value=-1)
            trace = trace.add((curvature * kj.square().sum(dim=1)).sum(dim=1), alpha=self.step)
        return gradient, trace


@dataclass(frozen=True)
class PotentialWeights:
    """Weight-only tensors of Φ's closed forms (see :meth:`Potential.weights`): K₀ and its x
    and t parts, (AᵀA) split the same way, c, Σ_k K₀ₓ[l, k]², tr(A_xᵀA_x), and the
    (m, d·m) matrix that turns the opening's slopes into K₁J₀ (None without residual layers)."""

    weight: Tensor
    weight_x: Tensor
    weight_t: Tensor
    gram_x: Tensor
    gram_t: Tensor
    linear_bias: Tensor
    opening_trace: Tensor
    quadratic_trace: Tensor
    mixed: Tensor | None


class _Tanh(torch.autograd.Function):
    """σ'(a) = tanh a as one autograd node whose backward is 1 − tanh², computed from the saved
    output, written with differentiable operations so higher derivatives still work.

    The forward is ``torch.tanh`` or 2·sigmoid(2a) − 1, whichever this CPU computes faster
    (:mod:`pushforward.nn.tanh`: 3× or more either way, depending on the CPU).
    """

    @staticmethod
    def forward(ctx, a: Tensor) -> Tensor:  # type: ignore[override]
        slope = tanh(a)
        ctx.save_for_backward(slope)
        return slope

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (slope,) = ctx.saved_tensors
        return grad * (1 - slope.square())


class _LogCosh(torch.autograd.Function):
    """σ(a) = log cosh a whose backward reuses σ'(a) = tanh a, already computed by the caller.

    Autograd's own backward of :func:`log_cosh` would evaluate two more exponentials per entry.
    The backward is written with differentiable operations, so higher derivatives still work.
    The forward reuses the slope as well (:func:`log_cosh_from_tanh`).
    """

    @staticmethod
    def forward(ctx, a: Tensor, slope: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(slope)
        return log_cosh_from_tanh(a, slope)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (slope,) = ctx.saved_tensors
        return grad * slope, None
