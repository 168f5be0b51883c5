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

import math

import torch
from torch import Tensor, nn


def log_cosh(a: Tensor) -> Tensor:
    """``log cosh a``, stable for large ``|a|``: ``|a| + log1p(exp(−2|a|)) − log 2``."""
    magnitude = a.abs()
    return magnitude + torch.log1p(torch.exp(-2 * magnitude)) - math.log(2.0)


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

    def gradient_and_laplacian(self, x: Tensor, t: Tensor | float, laplacian: bool = True) -> tuple[Tensor, Tensor | None]:
        """``(∇_s Φ, tr ∇²_x Φ)``: the gradient in (x, t), ``(n, d+1)``, and the Laplacian in x, ``(n,)``.

        The last column of the gradient is ∂Φ/∂t (the HJB penalty needs it).
        """
        s = self._inputs(x, t)
        d = self.dimension
        # Forward sweep: keep each layer's pre-activation.
        opening = self.opening(s)
        u = log_cosh(opening)
        pre: list[Tensor] = []
        for layer in self.residual:
            a = layer(u)
            pre.append(a)
            u = u + self.step * log_cosh(a)
        # Backward sweep: z_i = ∂(wᵀ u_{M−1}) / ∂u_{i−1}, starting from w at the top.
        z = self.w.expand_as(u)
        backward: list[Tensor] = [z]  # backward[k] pairs with residual layer M−1−k
        for layer, a in zip(reversed(self.residual), reversed(pre)):
            z = z + self.step * (torch.tanh(a) * z) @ layer.weight
            backward.append(z)
        backward.reverse()  # backward[i] = gradient w.r.t. u_i, i = 0 … M−1
        gradient = (torch.tanh(opening) * backward[0]) @ self.opening.weight
        gradient = gradient + (s @ self.A.T) @ self.A + self.c.weight
        if not laplacian:
            return gradient, None

        # Laplacian in x (not t): the opening layer's term, then each residual layer's, carrying
        # the Jacobian J = ∂u/∂x forward, stored as (n, d, width) so each product with a
        # layer's weight is one matrix multiplication.
        opening_x = self.opening.weight[:, :d]
        slope = torch.tanh(opening)
        trace = ((1 - slope.pow(2)) * backward[0]) @ opening_x.pow(2).sum(dim=1)
        jacobian = slope.unsqueeze(1) * opening_x.T  # (n, d, m)
        n, width = jacobian.shape[0], jacobian.shape[2]
        for i, (layer, a) in enumerate(zip(self.residual, pre)):
            kj = (jacobian.reshape(n * d, width) @ layer.weight.T).reshape(n, d, width)
            slope = torch.tanh(a)
            trace = trace + self.step * ((1 - slope.pow(2)) * backward[i + 1] * kj.pow(2).sum(dim=1)).sum(dim=1)
            jacobian = jacobian + self.step * slope.unsqueeze(1) * kj
        quadratic = self.A[:, :d]
        trace = trace + quadratic.pow(2).sum()
        return gradient, trace
