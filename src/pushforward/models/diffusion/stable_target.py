"""The stable target: the denoiser's regression target averaged over a reference batch.

Xu, Tong, Jaakkola, "Stable Target Field for Reduced Variance Score Estimation in Diffusion
Models", ICLR 2023.

The plain denoising loss regresses the network on the x_0 that produced x_t. At high noise
that target is nearly independent of x_t, so its variance swamps the small signal the network
must learn there: the posterior mean E[x_0 | x_t]. The stable target replaces x_0 by the
self-normalised importance-weighted average over a reference batch {x_0^j} that contains the
true x_0,

    x̄_0(x_t) = Σ_j w_j x_0^j,   w_j ∝ q(x_t | x_0^j) = N(x_t; α x_0^j, σ² I),

the posterior mean of x_0 under the reference batch's empirical distribution. At low noise
every weight but the true x_0's vanishes and the target is the plain one; at high noise it is
a low-variance estimate of E[x_0 | x_t]. The bias from a finite reference batch vanishes as
the batch grows (the paper's Theorem 1).

Pure tensor math; the model turns x̄_0 into its ε or v target.
"""

from __future__ import annotations

import torch
from torch import Tensor


def stable_target_x0(x_t: Tensor, alpha: Tensor, sigma: Tensor, x0: Tensor, reference_points: int) -> Tensor:
    """x̄_0 for each row: the posterior mean of x_0 over the row's own point and a reference batch.

    ``x_t``, ``x0``: ``(n, *event)``, row i noised from ``x0[i]``; ``alpha``, ``sigma``:
    ``(n,)``. The reference batch is the first ``reference_points`` rows of ``x0`` (a training
    batch is already a random draw), so row i's set is {x_0^i} and the m others (row i < m
    does not count itself twice). The cost is n × m, so m is kept a few hundred: at high
    noise, where the weights are spread, that already cuts the target's variance a
    hundredfold, and at low noise the weights sit on x_0^i whatever m is.

    The weights are log N(x_t^i; α_i p, σ_i² I) for the points p, up to a constant in p:
    (α_i/σ_i²) x_t^i·p − ½ (α_i²/σ_i²) ‖p‖² (the ‖x_t^i‖² term drops out of the normalisation).
    Both terms come from one matrix product of [x_t^i α_i/σ_i², −½ α_i²/σ_i²] with [p, ‖p‖²]
    instead of a product and two (n, m) element-wise passes: this runs at every training step.
    """
    flat_x, flat_x0 = x_t.flatten(1), x0.flatten(1)
    m = min(reference_points, flat_x0.shape[0])
    precision = (alpha / sigma.square())[:, None]  # α / σ²
    queries = torch.cat([flat_x * precision, -0.5 * alpha[:, None] * precision], dim=1)
    points = torch.cat([flat_x0, flat_x0.square().sum(dim=1, keepdim=True)], dim=1)
    own = (queries * points).sum(dim=1, keepdim=True)
    others = queries @ points[:m].T
    others[:m].diagonal().fill_(-torch.inf)  # row i < m: x_0^i is already the own column
    weights = torch.softmax(torch.cat([own, others], dim=1), dim=1)
    mean = weights[:, :1] * flat_x0 + weights[:, 1:] @ flat_x0[:m]
    return mean.reshape(x_t.shape)
