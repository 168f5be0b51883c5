"""The 2-D toy world: seeded samplers with their exact densities and entropies.

Each toy is a :class:`ToyDataset`. Its true log-density is known (closed form, or a 1-D
quadrature that is converged to about 1e-13 in log p where the data live), so a model's test NLL
can be compared with the data's entropy, the floor no model can beat: E[-log q(X)] = H(p) + KL(p‖q).

==============  ====================================================================================
name            definition (units are the data's; "noise s" means + N(0, s² I))
==============  ====================================================================================
checkerboard    uniform on the 8 squares of side 2 in [-4, 4]² with floor(x/2) + floor(y/2) even
                (FFJORD's); H = log 32 exactly
8gaussians      8 equal Gaussians, means 2 (cos 2πk/8, sin 2πk/8), k = 0..7, std 0.02 (VEEGAN's ring)
25gaussians     25 equal Gaussians, means {-4, -2, 0, 2, 4}², std 0.05 (PacGAN's grid)
moons           two half circles of radius 2 (sklearn's make_moons ×2 shifted, as in FFJORD), noise 0.2
circles         circles of radius 3 and 1.5, equal mass, uniform angle (make_circles ×3), noise 0.24
rings           circles of radius 3, 2.25, 1.5, 0.75, equal mass, uniform angle (FFJORD's), noise 0.08
2spirals        two Archimedean arms ±(-t cos t, t sin t)/3, t = 3π√u (FFJORD's), noise 0.1
pinwheel        5 Gaussian arms swirled by a volume-preserving map (Johnson et al.'s, via FFJORD)
swissroll       (t cos t, t sin t)/5, t ~ U[1.5π, 4.5π] (make_swiss_roll, as in FFJORD), noise 0.2
==============  ====================================================================================

References: W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud, "FFJORD:
Free-form continuous dynamics for scalable reversible generative models", ICLR 2019 (their
``lib/toy_data.py``); A. Srivastava, L. Valkov, C. Russell, M. U. Gutmann, C. Sutton, "VEEGAN:
Reducing mode collapse in GANs using implicit variational learning", NeurIPS 2017; Z. Lin,
A. Khetan, G. Fanti, S. Oh, "PacGAN: The power of two samples in generative adversarial
networks", NeurIPS 2018; M. J. Johnson, D. Duvenaud, A. B. Wiltschko, S. R. Datta, R. P. Adams,
"Composing graphical models with neural networks for structured representations and fast
inference", NeurIPS 2016 (the pinwheel); scikit-learn's ``make_moons``, ``make_circles`` and
``make_swiss_roll`` (Pedregosa et al., JMLR 2011).

Where a definition departs from the code it is named after (so that the density is exact and the
samples are i.i.d. from it), its docstring says how.

Entropies are in nats. Closed form for checkerboard and the two Gaussian grids; for the others a
Monte-Carlo estimate with a Rao–Blackwellised control variate (:func:`estimate_entropy`), computed
once with the n and seed in ``entropy_method`` and stored below; ``python -m
pushforward.data.toy2d`` recomputes them.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from pushforward.data.curves import (
    Curve,
    NoisyCircles,
    NoisyCurves,
    circle_arc,
    iso_mixture_log_prob,
    rao_blackwell_entropy_terms,
    uniform_t,
)
from pushforward.errors import UserError, suggest
from pushforward.nn.logsumexp import logsumexp

__all__ = ["ToyDataset", "estimate_entropy", "get_toy", "sample_toy", "toy_names"]

_LOG_2PI_E = math.log(2.0 * math.pi * math.e)

# Monte-Carlo entropies (nats) from `estimate_entropy(name, n=_MC_N, seed=_MC_SEED)`:
# name -> (value, standard error). Recompute with `python -m pushforward.data.toy2d` (about a
# minute on one core). A deterministic grid quadrature of -∫ p log p agrees with each within
# 1.5 standard errors (checked in tests/data/test_toy2d.py).
_MC_N = 4_000_000
_MC_SEED = 0
_MC_ENTROPY: dict[str, tuple[float, float]] = {
    "moons": (2.394004381217037, 9.100596587433532e-05),
    "circles": (3.268075132736497, 0.00017797633396864028),
    "rings": (2.6230552683017483, 0.00026137254333402366),
    "2spirals": (2.5406551743583994, 5.444406049258437e-05),
    "pinwheel": (2.320537785439181, 3.4937228983922414e-05),
    "swissroll": (2.6695269526082095, 0.0001546124967174595),
}


class _Law(Protocol):
    """What a toy's law provides, all in float64 on (m, 2) tensors."""

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor: ...

    def log_prob(self, x: Tensor) -> Tensor: ...

    def entropy_terms(self, x: Tensor) -> Tensor:
        """Per-sample terms whose mean over samples of the law is its entropy."""
        ...


@dataclass(frozen=True, eq=False)
class ToyDataset:
    """A 2-D toy distribution with a seeded sampler and its exact log-density and entropy.

    ``entropy`` is in nats; ``entropy_se`` is 0.0 when it is closed form, otherwise the Monte-Carlo
    standard error; ``entropy_method`` says which. ``bounds`` = (xmin, xmax, ymin, ymax) is a
    plotting window that holds all but < 1e-8 of the mass. ``modes`` (K, 2) and ``mode_std`` are
    set for the Gaussian mixtures (for mode-coverage metrics), None otherwise.
    ``bounded_support`` says whether :meth:`support_contains` is informative (checkerboard); for
    the other toys the support is the whole plane and it returns all True.
    """

    name: str
    description: str
    entropy: float
    entropy_se: float
    entropy_method: str
    bounds: tuple[float, float, float, float]
    mode_std: float | None = None
    bounded_support: bool = False
    _law: _Law = field(default=None, repr=False)  # type: ignore[assignment]
    _modes: tuple[tuple[float, float], ...] | None = field(default=None, repr=False)
    _support: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)

    event_shape = (2,)

    @property
    def modes(self) -> Tensor | None:
        """Mixture means (K, 2) float32, or None for toys that are not Gaussian mixtures."""
        return None if self._modes is None else torch.tensor(self._modes, dtype=torch.float32)

    def sample(self, n: int, generator: torch.Generator | None = None, seed: int | None = None) -> Tensor:
        """n i.i.d. points, float32 (n, 2), on the CPU.

        Give ``seed`` (a fresh generator seeded with it) or a CPU ``generator`` (advanced by the
        call); with neither, torch's global generator is used. The same seed gives bit-identical
        samples on the same machine and torch version.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise UserError(f"number of samples n={n!r} is not a non-negative integer", "pass e.g. n=10_000")
        if generator is not None and seed is not None:
            raise UserError("both generator and seed were given", "pass one of them")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise UserError(f"seed={seed!r} is not an integer", "pass an int seed")
            generator = torch.Generator().manual_seed(int(seed))
        return self._law.sample(int(n), generator).to(torch.float32)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density (nats) of points x (..., 2) → (...), in x's floating dtype.

        Computed in float64 (on the CPU for MPS tensors, which lack float64) and not
        differentiable: it is a fixed reference, not a model. Points with an infinite coordinate
        get -inf, points with a NaN get NaN.
        """
        x, shape, dtype, device = _prepare_points(x)
        finite = torch.isfinite(x).all(dim=1)
        if bool(finite.all()):
            out = self._law.log_prob(x) if x.shape[0] else x.new_empty(0)
        else:
            out = torch.full((x.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
            out[x.isnan().any(dim=1)] = math.nan
            if bool(finite.any()):
                out[finite] = self._law.log_prob(x[finite])
        return out.reshape(shape).to(device=device, dtype=dtype)

    def support_contains(self, x: Tensor) -> Tensor:
        """Whether each point of x (..., 2) lies in the closed support → bool (...).

        Exact for checkerboard (closed squares, so every float32 sample counts as inside). The
        other toys have Gaussian noise, so their support is the plane: all True.
        """
        x, shape, _, device = _prepare_points(x)
        inside = self._support(x) if self._support is not None else torch.ones(x.shape[0], dtype=torch.bool)
        return inside.reshape(shape).to(device)


def _prepare_points(x: Any) -> tuple[Tensor, tuple[int, ...], torch.dtype, torch.device]:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim == 0 or x.shape[-1] != 2:
        raise UserError(f"points have shape {tuple(x.shape)}", "toy densities take points of shape (n, 2)")
    dtype = x.dtype if x.dtype.is_floating_point else torch.get_default_dtype()
    device = x.device
    work = device if device.type != "mps" else torch.device("cpu")
    # Moved, then widened: the cast happens where float64 exists.
    return x.detach().to(work).to(torch.float64).reshape(-1, 2), tuple(x.shape[:-1]), dtype, device


# ---------------------------------------------------------------------------------------------
# Laws
# ---------------------------------------------------------------------------------------------

# The lower-left corners of the 8 black squares (column i, row j) of a 4×4 board of side-2 cells
# on [-4, 4]²: i + j even. Public for diagnostics that count samples per square.
CHECKERBOARD_CORNERS = tuple((2.0 * i, 2.0 * j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0)


class _Checkerboard:
    """Uniform on the union of the 8 closed squares [2i, 2i+2] × [2j, 2j+2], i + j even."""

    def __init__(self) -> None:
        self.corners = torch.tensor(CHECKERBOARD_CORNERS, dtype=torch.float64)

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        square = torch.randint(len(CHECKERBOARD_CORNERS), (n,), generator=generator)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        # corner + 2u lies in [corner, corner + 2] exactly, and rounding to float32 cannot leave
        # it: both edges are representable and rounding is monotone.
        return self.corners[square] + 2.0 * u

    def contains(self, x: Tensor) -> Tensor:
        lo = self.corners.to(x.device)[None, :, :]
        xe = x[:, None, :]
        return ((xe >= lo) & (xe <= lo + 2.0)).all(dim=2).any(dim=1)

    def log_prob(self, x: Tensor) -> Tensor:
        inside = self.contains(x)
        out = torch.full(inside.shape, -math.log(32.0), dtype=torch.float64, device=x.device)
        return out.masked_fill_(~inside, -math.inf)

    def entropy_terms(self, x: Tensor) -> Tensor:
        return -self.log_prob(x)


class _IsoGaussianMixture:
    """Equal-weight mixture of N(mu_k, s² I)."""

    def __init__(self, means: tuple[tuple[float, float], ...], std: float) -> None:
        self.means = torch.tensor(means, dtype=torch.float64)
        self.std = std
        self.log_w = torch.full((len(means),), -math.log(len(means)), dtype=torch.float64)

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        k = torch.randint(self.means.shape[0], (n,), generator=generator)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return self.means[k] + self.std * eps

    def log_prob(self, x: Tensor) -> Tensor:
        return iso_mixture_log_prob(x, self.means, self.log_w, self.std)

    def entropy_terms(self, x: Tensor) -> Tensor:
        log_p, sq = iso_mixture_log_prob(x, self.means, self.log_w, self.std, posterior_sqdist=True)
        return rao_blackwell_entropy_terms(log_p, sq, self.std)

    def entropy(self) -> tuple[float, float]:
        """(log K + log(2πe s²), proven upper bound on the overlap correction)."""
        k = self.means.shape[0]
        d2 = torch.cdist(self.means, self.means).pow(2)
        off = ~torch.eye(k, dtype=torch.bool)
        # 0 <= log K + H(N) - H(X) = H(K|X) <= 2 Σ_{j≠k} sqrt(π_j π_k) BC_jk, using
        # log(1 + u) <= 2 sqrt(u) and sqrt(Σ a) <= Σ sqrt(a); the Bhattacharyya coefficient of two
        # N(mu, s² I) is exp(-|Δmu|²/(8 s²)). Kept in log space: it underflows float64.
        log_bound = math.log(2.0 / k) + float(logsumexp(-d2[off] / (8.0 * self.std**2), 0))
        return math.log(k) + 2.0 * math.log(self.std) + _LOG_2PI_E, log_bound


class _Pinwheel:
    """Johnson et al.'s pinwheel with the swirl angle a function of the radius (volume-preserving).

    f ~ N((1, 0), diag(0.3², 0.1²)), arm k ~ U{0..4},
    x = 2 R(-(2πk/5 + 0.25 exp|f|)) f, with R(a) the rotation by a.
    """

    arms, radial_std, tangential_std, rate, scale = 5, 0.3, 0.1, 0.25, 2.0

    def _angle(self, radius: Tensor) -> Tensor:
        # Beyond radius ~35 the angle is not resolvable in float64 anyway (see the toy's
        # docstring); the clamp only keeps exp finite.
        return self.rate * torch.exp(radius.clamp_max(700.0))

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        k = torch.randint(self.arms, (n,), generator=generator)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        f = torch.stack([1.0 + self.radial_std * eps[:, 0], self.tangential_std * eps[:, 1]], dim=1)
        a = 2.0 * math.pi * k.to(torch.float64) / self.arms + self._angle(f.norm(dim=1))
        c, s = torch.cos(a), torch.sin(a)
        return self.scale * torch.stack([c * f[:, 0] + s * f[:, 1], -s * f[:, 0] + c * f[:, 1]], dim=1)

    def _component_log_probs(self, x: Tensor) -> Tensor:
        """log p(x | arm k) for each arm: (m, 5)."""
        y = x / self.scale
        base = self._angle(y.norm(dim=1))[:, None]
        a = base + 2.0 * math.pi * torch.arange(self.arms, dtype=torch.float64, device=x.device)[None, :] / self.arms
        c, s = torch.cos(a), torch.sin(a)
        f0 = c * y[:, :1] - s * y[:, 1:]  # f = R(a) y, the inverse map
        f1 = s * y[:, :1] + c * y[:, 1:]
        z0 = (f0 - 1.0) / self.radial_std
        z1 = f1 / self.tangential_std
        log_norm = -math.log(2.0 * math.pi * self.radial_std * self.tangential_std) - 2.0 * math.log(self.scale)
        return log_norm - 0.5 * (z0 * z0 + z1 * z1)

    def log_prob(self, x: Tensor) -> Tensor:
        return logsumexp(self._component_log_probs(x), dim=1) - math.log(self.arms)

    def conditional_entropy(self) -> float:
        """H(X | arm) = log(scale²) + log(2πe σ_r σ_t): the swirl preserves volume."""
        return 2.0 * math.log(self.scale) + math.log(self.radial_std * self.tangential_std) + _LOG_2PI_E

    def entropy_terms(self, x: Tensor) -> Tensor:
        # H(X) = H(X|K) + H(K) - H(K|X); the posterior's entropy replaces -log P(k|x) (Rao–Blackwell).
        post = torch.log_softmax(self._component_log_probs(x), dim=1)
        post_entropy = -(post.exp() * post).sum(dim=1)
        return self.conditional_entropy() + math.log(self.arms) - post_entropy


# ---------------------------------------------------------------------------------------------
# The toys
# ---------------------------------------------------------------------------------------------


def _mc_fields(name: str) -> dict[str, Any]:
    value, se = _MC_ENTROPY[name]
    method = (
        f"Monte Carlo, n={_MC_N:,}, seed={_MC_SEED} (Rao–Blackwellised control variate, "
        f"see estimate_entropy); standard error {se:.1e}"
    )
    return {"entropy": value, "entropy_se": se, "entropy_method": method}


def _checkerboard() -> ToyDataset:
    """FFJORD's checkerboard (Grathwohl et al., 2019).

    Uniform on the 8 closed squares [2i, 2i+2] × [2j, 2j+2], i, j ∈ {-2, -1, 0, 1}, with i + j
    even — the black squares of a 4×4 board on [-4, 4]², the one FFJORD's code draws
    (``x2 = rand - 2·randint(2) + floor(x1) % 2`` on [-2, 2]², scaled by 2). Total area 32:
    log p = -log 32 on the squares, -inf off them; H = log 32 exactly. The sampler picks a
    square uniformly, then a uniform point in it.
    """
    law = _Checkerboard()
    return ToyDataset(
        name="checkerboard",
        description=(
            "Uniform on the 8 squares [2i,2i+2]x[2j,2j+2] (i,j in -2..1, i+j even) of a 4x4 board "
            "on [-4,4]^2, area 32 (FFJORD, Grathwohl et al. 2019)."
        ),
        entropy=math.log(32.0),
        entropy_se=0.0,
        entropy_method="closed form: log 32 (uniform on area 32)",
        bounds=(-4.5, 4.5, -4.5, 4.5),
        bounded_support=True,
        _law=law,
        _support=law.contains,
    )


def _mixture_toy(
    name: str, description: str, means: tuple[tuple[float, float], ...], std: float, bounds: Any
) -> ToyDataset:
    law = _IsoGaussianMixture(means, std)
    entropy, log_bound = law.entropy()
    method = (
        f"closed form: log K + log(2*pi*e*s^2) with K={len(means)}, s={std}; the exact entropy is "
        f"lower by the mode-overlap term H(K|X), proven to lie in [0, 1e{math.ceil(log_bound / math.log(10))}]"
    )
    return ToyDataset(
        name=name,
        description=description,
        entropy=entropy,
        entropy_se=0.0,
        entropy_method=method,
        bounds=bounds,
        mode_std=std,
        _law=law,
        _modes=means,
    )


def _8gaussians() -> ToyDataset:
    """The ring of 8 Gaussians of VEEGAN (Srivastava et al., 2017); also Unrolled GAN (Metz et al., 2017).

    Equal-weight mixture of N(mu_k, 0.02² I), mu_k = 2 (cos 2πk/8, sin 2πk/8), k = 0..7 (eight
    distinct angles; ``linspace(0, 2π, 8)`` would repeat one). FFJORD's "8gaussians" is wider
    (radius 2√2, std 0.5/√2); we follow VEEGAN, whose tiny std makes mode dropping visible.

    Entropy: with latent mode K, H(X) = H(K) + H(X|K) - H(K|X) = log 8 + log(2πe·0.02²) - H(K|X).
    H(K|X) ≥ 0 and H(K|X) ≤ 2 Σ_{j≠k} (1/8) exp(-|mu_j - mu_k|²/(8 s²)) (Bhattacharyya bound),
    about 1e-317 here: the closed form is exact in float64.
    """
    means = tuple((2.0 * math.cos(2 * math.pi * k / 8), 2.0 * math.sin(2 * math.pi * k / 8)) for k in range(8))
    return _mixture_toy(
        "8gaussians",
        "Ring of 8 equal Gaussians, means 2(cos 2pi k/8, sin 2pi k/8), std 0.02 (VEEGAN, Srivastava et al. 2017).",
        means,
        0.02,
        (-2.5, 2.5, -2.5, 2.5),
    )


def _25gaussians() -> ToyDataset:
    """The 5×5 grid of Gaussians of PacGAN (Lin et al., 2018).

    Equal-weight mixture of N(mu, 0.05² I), mu ∈ {-4, -2, 0, 2, 4}². Entropy
    log 25 + log(2πe·0.05²) minus an overlap term proven ≤ 1e-86 (see :func:`_8gaussians`).
    """
    grid = (-4.0, -2.0, 0.0, 2.0, 4.0)
    means = tuple((a, b) for a in grid for b in grid)
    return _mixture_toy(
        "25gaussians",
        "5x5 grid of equal Gaussians, means {-4,-2,0,2,4}^2, std 0.05 (PacGAN, Lin et al. 2018).",
        means,
        0.05,
        (-5.0, 5.0, -5.0, 5.0),
    )


def _curve_toy(name: str, description: str, law: Any, bounds: Any) -> ToyDataset:
    return ToyDataset(name=name, description=description, bounds=bounds, _law=law, **_mc_fields(name))


def _moons() -> ToyDataset:
    """Two moons: sklearn's ``make_moons(noise=0.1)`` scaled by 2 and shifted by (-1, -0.2), as in FFJORD.

    Mass 1/2 on each half circle of radius 2, uniform in angle:
    upper arc centre (-1, -0.2), angles [0, π]; lower arc centre (1, 0.8), angles [π, 2π];
    plus N(0, 0.2² I). (sklearn spaces the angles evenly and splits n exactly in half; we draw
    both at random so the samples are i.i.d. from the density.) Density by quadrature over the angle.
    """
    arms = (circle_arc(2.0, (-1.0, -0.2), 0.0, math.pi, 0.5), circle_arc(2.0, (1.0, 0.8), math.pi, 2.0 * math.pi, 0.5))
    return _curve_toy(
        "moons",
        "Two moons: half circles of radius 2, centres (-1,-0.2) (upper) and (1,0.8) (lower), uniform angle, "
        "equal mass, + N(0, 0.2^2 I) (sklearn make_moons x2, as in FFJORD).",
        NoisyCurves(arms, 0.2),
        (-4.5, 4.5, -2.5, 3.0),
    )


def _circles() -> ToyDataset:
    """Two circles: sklearn's ``make_circles(factor=0.5, noise=0.08)`` scaled by 3, as in FFJORD.

    Circles of radius 3 and 1.5 about the origin, mass 1/2 each, uniform angle, plus
    N(0, 0.24² I). Closed-form density (angle integrated out: a Bessel I0, see
    :class:`~pushforward.data.curves.NoisyCircles`). sklearn splits n exactly in half and spaces
    the angles evenly; we draw both at random.
    """
    return _curve_toy(
        "circles",
        "Circles of radius 3 and 1.5, equal mass, uniform angle, + N(0, 0.24^2 I) "
        "(sklearn make_circles x3, as in FFJORD).",
        NoisyCircles((3.0, 1.5), (0.5, 0.5), 0.24),
        (-4.5, 4.5, -4.5, 4.5),
    )


def _rings() -> ToyDataset:
    """FFJORD's rings: circles of radius 3, 2.25, 1.5, 0.75, mass 1/4 each, plus N(0, 0.08² I).

    Uniform angle on each circle (FFJORD spaces angles evenly and splits n exactly in four; we draw
    at random). Closed-form density (Bessel I0, see :class:`~pushforward.data.curves.NoisyCircles`).
    """
    return _curve_toy(
        "rings",
        "Four circles of radius 3, 2.25, 1.5, 0.75, equal mass, uniform angle, + N(0, 0.08^2 I) (FFJORD).",
        NoisyCircles((3.0, 2.25, 1.5, 0.75), (0.25, 0.25, 0.25, 0.25), 0.08),
        (-4.0, 4.0, -4.0, 4.0),
    )


def _spiral_arm(sign: float) -> Curve:
    top = 3.0 * math.pi
    return Curve(
        point=lambda t: sign * torch.stack([-t * torch.cos(t), t * torch.sin(t)], dim=-1) / 3.0,
        t0=0.0,
        t1=top,
        log_pdf=lambda t: torch.log(2.0 * t / top**2),  # t = 3π√u has density 2t/(3π)² on [0, 3π]
        inverse_cdf=lambda u: top * torch.sqrt(u),
        weight=0.5,
    )


def _2spirals() -> ToyDataset:
    """FFJORD's two spirals, with Gaussian noise only.

    Arm 1 is c(t) = (-t cos t, t sin t)/3 and arm 2 is -c(t), mass 1/2 each, with t = 3π√u,
    u ~ U[0, 1) (density 2t/(3π)² on [0, 3π], about uniform in arc length), plus N(0, 0.1² I).
    FFJORD also adds a uniform U[0, 1/6]² jitter to arm 1 (negated on arm 2), which shifts each
    arm by 1/12 per coordinate; we leave it out so the density is an exact curve-plus-Gaussian.
    Density by quadrature over t.
    """
    return _curve_toy(
        "2spirals",
        "Two spirals +-(-t cos t, t sin t)/3, t = 3pi*sqrt(u), equal mass, + N(0, 0.1^2 I) "
        "(FFJORD, without its uniform jitter).",
        NoisyCurves((_spiral_arm(1.0), _spiral_arm(-1.0)), 0.1),
        (-4.0, 4.0, -4.0, 4.0),
    )


def _swissroll() -> ToyDataset:
    """FFJORD's swiss roll: sklearn's ``make_swiss_roll(noise=1.0)``, coordinates (x, z), divided by 5.

    c(t) = (t cos t, t sin t)/5 with t ~ U[1.5π, 4.5π] (uniform in t, not in arc length), plus
    N(0, 0.2² I). Density by quadrature over t.
    """
    lo, hi = 1.5 * math.pi, 4.5 * math.pi
    log_pdf, inverse_cdf = uniform_t(lo, hi)
    arm = Curve(lambda t: torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=-1) / 5.0, lo, hi, log_pdf, inverse_cdf)
    return _curve_toy(
        "swissroll",
        "Swiss roll (t cos t, t sin t)/5, t ~ U[1.5pi, 4.5pi], + N(0, 0.2^2 I) "
        "(sklearn make_swiss_roll, as in FFJORD).",
        NoisyCurves((arm,), 0.2),
        (-4.5, 4.5, -4.5, 4.5),
    )


def _pinwheel() -> ToyDataset:
    """The pinwheel of Johnson et al. (2016), as in FFJORD, with the swirl made exactly invertible.

    f ~ N((1, 0), diag(0.3², 0.1²)), arm k uniform on {0, ..., 4}, and
    x = 2 R(-(2πk/5 + 0.25 exp|f|)) f, R(a) the rotation by a. The original uses exp(f_1) (the
    first coordinate) for the swirl; that map folds over where 1 + 0.25 e^{f_1} f_2 ≤ 0 (mass
    ~1e-10), so its density has no closed form. Using the radius |f| (≈ f_1, arms look the same)
    makes each arm's map a rotation by an angle depending on the radius only: a bijection with
    Jacobian determinant 1. Hence, with y = x/2,
    p(x) = (1/4)(1/5) Σ_k N(R(2πk/5 + 0.25 exp|y|) y; (1, 0), diag(0.3², 0.1²)) exactly, and
    H = log 4 + log(2πe·0.3·0.1) + log 5 - H(arm | X), the last term by Monte Carlo.
    Beyond |x| ≈ 60 (where log p < -4000) float64 cannot resolve the swirl angle 0.25 e^{|x|/2}
    modulo 2π, so log p there is right in magnitude only (a point at the right radius, wrong angle).
    """
    return _curve_toy(
        "pinwheel",
        "Pinwheel: 5 arms, x = 2 R(-(2pi k/5 + 0.25 exp|f|)) f, f ~ N((1,0), diag(0.3^2, 0.1^2)) "
        "(Johnson et al. 2016, as in FFJORD, swirl by radius so it preserves area).",
        _Pinwheel(),
        (-5.5, 5.5, -5.5, 5.5),
    )


_BUILDERS: dict[str, Callable[[], ToyDataset]] = {
    "checkerboard": _checkerboard,
    "8gaussians": _8gaussians,
    "25gaussians": _25gaussians,
    "moons": _moons,
    "circles": _circles,
    "rings": _rings,
    "2spirals": _2spirals,
    "pinwheel": _pinwheel,
    "swissroll": _swissroll,
}


def toy_names() -> list[str]:
    """Names of the built-in toys."""
    return list(_BUILDERS)


@functools.cache
def _build(name: str) -> ToyDataset:
    return _BUILDERS[name]()


def get_toy(name: str) -> ToyDataset:
    """The toy called ``name`` (see :func:`toy_names`); unknown names raise :class:`UserError`."""
    key = str(name).strip().lower()
    if key not in _BUILDERS:
        raise UserError(f"unknown toy data set '{name}'", suggest(key, toy_names()))
    return _build(key)


def sample_toy(name: str, n: int, seed: int) -> Tensor:
    """``get_toy(name).sample(n, seed=seed)``: n float32 points (n, 2)."""
    return get_toy(name).sample(n, seed=seed)


def estimate_entropy(name: str, n: int = _MC_N, seed: int = _MC_SEED, batch: int = 250_000) -> tuple[float, float]:
    """Monte-Carlo entropy (nats) of toy ``name`` from n fresh samples: (value, standard error).

    Uses per-sample terms f(x) with E f(X) = H(X) but far smaller variance than -log p(x): for
    noise models X = C + s·eps, f = -log p(x) - E[|x - C|² | x]/(2s²) + 1 (the posterior mean of
    log p(x|C) as a control variate, exact mean since H(X|C) = log(2πe s²)); for the pinwheel,
    f = H(X|arm) + log 5 - H(arm | x). The standard error is std(f)/sqrt(n). Samples are drawn in
    float64 from a generator seeded with ``seed``; ``batch`` only bounds the memory of the terms.
    """
    toy = get_toy(name)
    generator = torch.Generator().manual_seed(seed)
    xs = toy._law.sample(n, generator)
    terms = torch.cat([toy._law.entropy_terms(xs[i : i + batch]) for i in range(0, n, batch)])
    return float(terms.mean()), float(terms.std() / math.sqrt(n))


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pushforward.data.toy2d", description="Recompute the stored Monte-Carlo entropies."
    )
    parser.add_argument("names", nargs="*", help="toys (default: those with Monte-Carlo entropies)")
    parser.add_argument("--n", type=int, default=_MC_N)
    parser.add_argument("--seed", type=int, default=_MC_SEED)
    args = parser.parse_args(argv)
    names = args.names or list(_MC_ENTROPY)
    rows = []
    for name in names:
        start = time.perf_counter()
        value, se = estimate_entropy(name, args.n, args.seed)
        toy = get_toy(name)
        rows.append((name, value, se))
        print(
            f"{name:>12}: H = {value:.6f} ± {se:.1e} nats  (stored {toy.entropy:.6f} ± {toy.entropy_se:.1e}; "
            f"{time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    print("\n_MC_ENTROPY = {")
    for name, value, se in rows:
        print(f'    "{name}": ({value!r}, {se!r}),')
    print("}")


if __name__ == "__main__":
    _main()
