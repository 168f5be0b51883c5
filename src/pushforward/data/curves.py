"""Densities of "a curve plus Gaussian noise" and of isotropic Gaussian mixtures, in float64.

Several 2-D toys (moons, circles, rings, spirals, swiss roll) are drawn as

    t ~ w(t) on a curve c(t),   x = c(t) + s * eps,   eps ~ N(0, I_2),

so their true density is a one-dimensional integral over the curve parameter,

    p(x) = ∫ w(t) N(x; c(t), s² I) dt.

We evaluate it by composite Gauss–Legendre quadrature with panels of equal *arc length* (at most
``panel_length``, by default twice the noise scale s, with 16 nodes each), so every bump
N(x; c(t), s² I), seen as a function of t, is covered by several nodes wherever it sits. The quadrature turns the
integral into a fixed isotropic Gaussian mixture over the nodes,

    p(x) ≈ Σ_i W_i N(x; c(t_i), s² I),   W_i = (Gauss–Legendre weight) · w(t_i) > 0,

evaluated with one matrix product and a log-sum-exp, so it is exact for true Gaussian mixtures
(8gaussians, 25gaussians) and for curves the only error is the quadrature's. Against a four times
finer rule (``tests/data/test_toy2d.py``), the absolute error of log p is ~1e-13 where the data
live (log p > -100) and below 1e-8 anywhere inside a toy's plotting window. Far outside it, on the
convex side of a bend, the bumps get narrower than a panel (by about sqrt(1 + distance ·
curvature)) and the error grows, but only relative to a log p of order -distance²/(2 s²): at
twice the window it is ~1e-6 of log p (an absolute 1e-3 on a log p near -4000).

The same pass gives the posterior mean squared distance E[|x - c(t)|² | x], which the entropy
estimator uses as a control variate (see :func:`rao_blackwell_entropy_terms`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from pushforward.nn.logsumexp import logsumexp

# Rows of x per chunk: a chunk's (rows × nodes) float64 matrix stays about 2 MB, cache-friendly.
_CHUNK_ELEMENTS = 1 << 18
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Curve:
    """One arm of a noisy-curve toy.

    ``point(t)`` maps a float64 tensor of parameters (m,) to points (m, 2); ``log_pdf(t)`` is the
    log-density of t on [t0, t1] (it must integrate to 1 there); ``inverse_cdf(u)`` turns
    u ~ U[0, 1) into a draw of t; ``weight`` is the arm's share of the mass.
    """

    point: Callable[[Tensor], Tensor]
    t0: float
    t1: float
    log_pdf: Callable[[Tensor], Tensor]
    inverse_cdf: Callable[[Tensor], Tensor]
    weight: float = 1.0


def uniform_t(t0: float, t1: float) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """``(log_pdf, inverse_cdf)`` of the uniform distribution of t on [t0, t1]."""
    log_width = math.log(t1 - t0)
    return (lambda t: torch.full_like(t, -log_width)), (lambda u: t0 + (t1 - t0) * u)


def gauss_legendre_panels(curve: Curve, panel_length: float, order: int = 8) -> tuple[Tensor, Tensor]:
    """Quadrature nodes of ``curve``: their points (N, 2) and log weights (N,), float64.

    The log weights include the arm's weight and the density of t, so
    ``Σ exp(log_w_i) f(point_i) ≈ weight · E_t[f(c(t))]``.
    """
    # Arc length of a fine polyline locates panel edges at equal arc length; the edges need not
    # be exact, only the nodes inside each panel are used for integration.
    t_fine = torch.linspace(curve.t0, curve.t1, 20_001, dtype=torch.float64)
    p_fine = curve.point(t_fine)
    arc = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum((p_fine[1:] - p_fine[:-1]).norm(dim=1), 0)])
    total = float(arc[-1])
    panels = max(1, math.ceil(total / panel_length))
    edges = np.interp(np.linspace(0.0, total, panels + 1), arc.numpy(), t_fine.numpy())
    edges[0], edges[-1] = curve.t0, curve.t1
    x_gl, w_gl = np.polynomial.legendre.leggauss(order)
    lo, hi = edges[:-1, None], edges[1:, None]
    t = (0.5 * (hi - lo) * x_gl[None, :] + 0.5 * (hi + lo)).reshape(-1)
    w = (0.5 * (hi - lo) * w_gl[None, :]).reshape(-1)
    t_nodes = torch.from_numpy(t)
    log_w = torch.from_numpy(np.log(w)) + curve.log_pdf(t_nodes) + math.log(curve.weight)
    return curve.point(t_nodes), log_w


def iso_mixture_log_prob(
    x: Tensor, centers: Tensor, log_weights: Tensor, std: float, posterior_sqdist: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """log Σ_i exp(log_weights_i) N(x; centers_i, std² I) for x (n, 2), all float64.

    With ``posterior_sqdist`` also returns E[|x - centre|²] under the posterior over components.
    """
    n = x.shape[0]
    inv_var = 1.0 / (std * std)
    centers = centers.to(x.device)
    c_sq = (centers * centers).sum(dim=1)
    # -|x - c|²/(2s²) = x·c/s² - |c|²/(2s²) - |x|²/(2s²): one addmm per chunk, the last term
    # (constant over components) added after the log-sum-exp.
    bias = log_weights.to(x.device) - 0.5 * inv_var * c_sq
    scaled_t = (centers * inv_var).T.contiguous()
    moments = torch.cat([centers, c_sq[:, None]], dim=1) if posterior_sqdist else None
    log_norm = -(_LOG_2PI + 2.0 * math.log(std))
    x_sq = (x * x).sum(dim=1)
    rows = max(1, _CHUNK_ELEMENTS // max(1, centers.shape[0]))
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    sq_out = torch.empty(n, dtype=torch.float64, device=x.device) if posterior_sqdist else None
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        logits = torch.addmm(bias, x[start:stop], scaled_t)
        peak = logits.max(dim=1, keepdim=True).values
        # Clamping at -700 keeps exp out of the subnormal range, whose arithmetic is ~100x slower
        # on x86; it changes p by a relative N·e^-700, far below float64 resolution.
        logits.sub_(peak).clamp_min_(-700.0).exp_()
        total = logits.sum(dim=1)
        out[start:stop] = total.log() + peak[:, 0] - 0.5 * inv_var * x_sq[start:stop] + log_norm
        if sq_out is not None:
            m = (logits @ moments) / total[:, None]  # posterior E[c] (2 columns) and E[|c|²]
            xc = x[start:stop]
            sq = x_sq[start:stop] - 2.0 * (xc * m[:, :2]).sum(dim=1) + m[:, 2]
            sq_out[start:stop] = sq.clamp_min(0.0)
    if sq_out is not None:
        return out, sq_out
    return out


@dataclass(frozen=True)
class NoisyCurves:
    """The law of c_J(t) + s·eps with arm J chosen by weight and t ~ w_J: sampler and density."""

    curves: tuple[Curve, ...]
    noise_std: float
    panel_length: float | None = None  # default: 2 * noise_std
    order: int = 16
    _nodes: tuple[Tensor, Tensor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = sum(c.weight for c in self.curves)
        if abs(total - 1.0) > 1e-12:
            raise ValueError(f"curve weights sum to {total}, not 1")
        h = 2.0 * self.noise_std if self.panel_length is None else self.panel_length
        parts = [gauss_legendre_panels(c, h, self.order) for c in self.curves]
        nodes = (torch.cat([p for p, _ in parts]), torch.cat([w for _, w in parts]))
        object.__setattr__(self, "_nodes", nodes)

    @property
    def num_nodes(self) -> int:
        return int(self._nodes[0].shape[0])

    def refined(self, factor: int) -> NoisyCurves:
        """The same law with a ``factor`` times finer quadrature (to check convergence)."""
        h = 2.0 * self.noise_std if self.panel_length is None else self.panel_length
        return NoisyCurves(self.curves, self.noise_std, h / factor, self.order)

    def sample_with_latent(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """n draws (float64) with the arm index and curve parameter that produced each."""
        weights = torch.tensor([c.weight for c in self.curves], dtype=torch.float64)
        cum = torch.cumsum(weights, 0)
        u_arm = torch.rand(n, generator=generator, dtype=torch.float64)
        u_t = torch.rand(n, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        arm = torch.searchsorted(cum[:-1], u_arm, right=True)
        t = torch.empty(n, dtype=torch.float64)
        x = torch.empty(n, 2, dtype=torch.float64)
        for j, c in enumerate(self.curves):
            mask = arm == j
            t[mask] = c.inverse_cdf(u_t[mask])
            x[mask] = c.point(t[mask])
        return x + self.noise_std * eps, arm, t

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        return self.sample_with_latent(n, generator)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        centers, log_w = self._nodes
        return iso_mixture_log_prob(x, centers, log_w, self.noise_std)

    def entropy_terms(self, x: Tensor) -> Tensor:
        centers, log_w = self._nodes
        log_p, sq = iso_mixture_log_prob(x, centers, log_w, self.noise_std, posterior_sqdist=True)
        return rao_blackwell_entropy_terms(log_p, sq, self.noise_std)


def rao_blackwell_entropy_terms(log_p: Tensor, posterior_sqdist: Tensor, std: float) -> Tensor:
    """Per-sample terms whose mean is the entropy H(X), for X = C + s·eps in 2-D.

    With latent C (a curve point or a mixture centre), H(X) = H(X|C) + E[log p(x|C) - log p(x)]
    and H(X|C) = log(2πe s²). Replacing log p(x|C) by its posterior mean given x (Rao–Blackwell)
    keeps the mean and removes the noise's own fluctuation from the variance:

        f(x) = -log p(x) - E[|x - C|² | x] / (2 s²) + 1,   E f(X) = H(X).

    What variance is left comes mostly from how the density varies *along* the curve, so far fewer
    samples reach a given standard error than with the plain estimate -mean log p(x) (about 25 to
    500 times fewer for the toys here).
    """
    return -log_p - posterior_sqdist / (2.0 * std * std) + 1.0


@dataclass(frozen=True)
class NoisyCircles:
    """Concentric circles (radii, weights) with uniform angle plus N(0, s² I): closed-form density.

    Integrating the angle out gives a Bessel function (Rice distribution in 2-D):
    p_r(x) = exp(-(|x|² + r²)/(2s²)) I0(r|x|/s²) / (2π s²); with the scaled i0e this is
    log p_r = -(|x| - r)²/(2s²) + log i0e(r|x|/s²) - log(2π s²), stable for any |x|.
    The posterior of the angle is von Mises with concentration κ = r|x|/s², so
    E[|x - c|² | x, r] = |x|² + r² - 2 r |x| I1(κ)/I0(κ).
    """

    radii: tuple[float, ...]
    weights: tuple[float, ...]
    noise_std: float
    # The same law as noisy curves: used to sample, and by the tests as a quadrature cross-check.
    curves: NoisyCurves = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        arms = tuple(circle_arc(r, (0.0, 0.0), 0.0, 2.0 * math.pi, w) for r, w in zip(self.radii, self.weights))
        object.__setattr__(self, "curves", NoisyCurves(arms, self.noise_std))

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        return self.curves.sample(n, generator)

    def _per_circle(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s2 = self.noise_std**2
        rho = x.norm(dim=1, keepdim=True)
        r = torch.tensor(self.radii, dtype=torch.float64, device=x.device)[None, :]
        log_w = torch.log(torch.tensor(self.weights, dtype=torch.float64, device=x.device))[None, :]
        kappa = r * rho / s2
        i0e = torch.special.i0e(kappa)
        logits = log_w - (rho - r) ** 2 / (2 * s2) + torch.log(i0e) - math.log(2 * math.pi * s2)
        ratio = torch.special.i1e(kappa) / i0e
        sqdist = rho**2 + r**2 - 2 * r * rho * ratio
        return logits, sqdist, rho

    def log_prob(self, x: Tensor) -> Tensor:
        return logsumexp(self._per_circle(x)[0], dim=1)

    def entropy_terms(self, x: Tensor) -> Tensor:
        logits, sqdist, _ = self._per_circle(x)
        log_p = logsumexp(logits, dim=1)
        post = torch.softmax(logits, dim=1)
        return rao_blackwell_entropy_terms(log_p, (post * sqdist).sum(dim=1), self.noise_std)


def _circle(radius: float, center: tuple[float, float]) -> Callable[[Tensor], Tensor]:
    cx, cy = center
    return lambda t: torch.stack([cx + radius * torch.cos(t), cy + radius * torch.sin(t)], dim=-1)


def circle_arc(radius: float, center: tuple[float, float], angle0: float, angle1: float, weight: float) -> Curve:
    """An arc of a circle, uniform in angle (hence in arc length) over [angle0, angle1]."""
    log_pdf, inv = uniform_t(angle0, angle1)
    return Curve(_circle(radius, center), angle0, angle1, log_pdf, inv, weight)
