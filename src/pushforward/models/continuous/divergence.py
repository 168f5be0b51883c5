"""The divergence ``div f = tr(∂f/∂x)`` of a field, exactly or by Hutchinson's estimator.

The instantaneous change of variables (Chen et al., "Neural ordinary differential equations",
NeurIPS 2018) says ``d log p(x(t)) / dt = -div f(t, x(t))``. Its trace can be computed

* exactly, with one vector–Jacobian product per dimension (cheap for small ``D``), or
* without bias by Hutchinson's estimator ``E[εᵀ (∂f/∂x) ε]`` with ``E[εεᵀ] = I`` — one
  vector–Jacobian product whatever ``D`` — as FFJORD does (Grathwohl, Chen, Bettencourt,
  Sutskever, Duvenaud, "FFJORD: Free-form continuous dynamics for scalable reversible generative
  models", ICLR 2019; M. F. Hutchinson, "A stochastic estimator of the trace of the influence
  matrix for Laplacian smoothing splines", 1989).

Both also return the squared Frobenius norm ``‖∂f/∂x‖²_F`` (exact, resp. the unbiased
``‖εᵀ ∂f/∂x‖²``) because RNODE's Jacobian regulariser needs it and it costs nothing extra
(Finlay, Jacobsen, Nurbekyan, Oberman, "How to train your neural ODE: the world of Jacobian and
kinetic regularization", ICML 2020).

These are pure functions of ``f = field(t, x)`` and ``x``: ``f`` must have been computed from
``x`` with autograd recording.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

ProbeKind = Literal["rademacher", "gaussian"]
PROBE_KINDS: tuple[str, ...] = get_args(ProbeKind)


def divergence_exact(f: Tensor, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """``(div f, ‖∂f/∂x‖²_F)`` per sample, shape ``(n,)`` each, with D vector–Jacobian products.

    ``create_graph=True`` keeps the graph so the result can be differentiated again (training).
    """
    n = x.shape[0]
    flat_f = f.reshape(n, -1)
    dimension = flat_f.shape[1]
    divergence = torch.zeros(n, dtype=f.dtype, device=f.device)
    frobenius = torch.zeros(n, dtype=f.dtype, device=f.device)
    for i in range(dimension):
        # Row i of the Jacobian for every sample at once: samples are independent, so the
        # gradient of the batch sum of f_i is the stack of the per-sample gradients.
        (row,) = torch.autograd.grad(flat_f[:, i].sum(), x, create_graph=create_graph, retain_graph=True)
        row = row.reshape(n, -1)
        divergence = divergence + row[:, i]
        frobenius = frobenius + row.pow(2).sum(dim=1)
    return divergence, frobenius


def divergence_hutchinson(f: Tensor, x: Tensor, probe: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """Unbiased ``(εᵀ(∂f/∂x)ε, ‖εᵀ ∂f/∂x‖²)`` per sample for a probe ``ε`` shaped like ``x``.

    Unbiased for the divergence and the squared Frobenius norm whenever ``E[εεᵀ] = I``
    (Rademacher or standard Gaussian entries, see :func:`sample_probe`).
    """
    n = x.shape[0]
    (product,) = torch.autograd.grad(f, x, grad_outputs=probe, create_graph=create_graph, retain_graph=True)
    divergence = (product * probe).reshape(n, -1).sum(dim=1)
    frobenius = product.reshape(n, -1).pow(2).sum(dim=1)
    return divergence, frobenius


def sample_probe(like: Tensor, kind: ProbeKind = "rademacher", generator: torch.Generator | None = None) -> Tensor:
    """A probe ``ε`` shaped like ``like`` with ``E[εεᵀ] = I``.

    Rademacher entries (±1) give the lowest variance of Hutchinson's estimator among
    independent entries; Gaussian ones are the classical choice.
    """
    if kind == "rademacher":
        bits = torch.randint(0, 2, like.shape, generator=generator, device=like.device)
        return bits.to(like.dtype).mul_(2).sub_(1)
    if kind == "gaussian":
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    raise ValueError(f"unknown probe kind '{kind}' (use one of: {', '.join(PROBE_KINDS)})")
