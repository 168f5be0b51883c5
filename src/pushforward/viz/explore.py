"""Explore a pushforward by hand: draw z ~ N(0, I), push it through f, look at the density of x = f(z).

This is the ``plot_density`` exercise of J. Oskarsson, A. Olmin and F. Lindsten, "Foundations of
Machine Learning" (course materials, Linköping University, 2021), section "Deep Generative
Models": the density of z (a standard Gaussian) and of x = f(z), both estimated by a kernel
density estimate on the samples, side by side, with a randomly initialised neural network as
the default f. On top of the course's two panels, when f is differentiable a third panel shows
the *exact* density of x at the samples by the change-of-variables formula

    log p_x(x) = log N(z; 0, I) - log |det ∂f/∂z|,    x = f(z),

(G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed, B. Lakshminarayanan, "Normalizing
Flows for Probabilistic Modeling and Inference", JMLR 2021, eq. 2), which holds when f is
invertible; where the samples show that it is not (the Jacobian determinant vanishes or changes
sign), the figure says so.

Where f(z) is NaN or infinite (``log`` of a negative number, ``sqrt`` of one, ``1/z`` at 0) the
sample is outside f's domain, not a fold: such samples are shown apart in the z panel, their
share of the Gaussian's mass is reported, and every density of x in the figure is the
pushforward of the rest of the Gaussian (mass 1 − that share), so the KDE and the exact panel
stay in the same units.

``f`` may also be a formula, read safely by :func:`pushforward.viz.expressions.parse_expression`.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde
from torch import Tensor, nn

from pushforward.errors import UserError, suggest
from pushforward.viz.expressions import parse_expression
from pushforward.viz._common import (
    DENSITY_CMAP,
    Bounds,
    check_bounds,
    new_figure,
    robust_bounds,
    save_figure,
    set_square_axes,
)

Transformation = Callable[[Tensor], Tensor]
Grid = tuple[np.ndarray, np.ndarray, np.ndarray]

_Z_BOUNDS: Bounds = (-3.5, 3.5, -3.5, 3.5)
# The z where f is undefined: a grey neither end of the density colour map uses.
UNDEFINED_COLOR = "0.72"
_MAX_UNDEFINED_DOTS = 4000


@dataclass
class ExploreResult:
    """What :func:`plot_density` computed.

    Attributes:
        z: the latent samples, ``(n, 2)`` float32.
        x: their images ``f(z)``, ``(n, 2)``.
        log_density_exact: ``log p_x`` at each ``x`` by the change of variables, ``(n,)``
            float64, or ``None`` when f could not be differentiated. NaN where f or its
            Jacobian is not finite, ``+inf`` where the Jacobian is singular. Only the density of
            x when f is invertible; where f folds, it is the term of one preimage only. Where f
            is undefined on part of the plane it is the density of the pushforward of the
            Gaussian's mass where f is defined, which integrates to ``1 - undefined_fraction``.
        figure_path: the image written, or ``None`` when no ``out`` was given.
        invertible_hint: what the samples say: the share where f is undefined (when there is
            one), then what the Jacobians say about invertibility.
        invertible: ``False`` when the samples prove f is not invertible (a singular Jacobian,
            or a determinant that changes sign); ``True`` when the determinant is non-zero and
            of one sign at every sample — consistent with invertibility, *not* a proof (the
            complex exponential passes this test and is not one-to-one); ``None`` when unknown.
            Only samples where f is defined count: a sample outside f's domain is no fold.
        defined: ``(n,)`` bool, whether ``x`` is finite (f defined at ``z``).
        undefined_fraction: (from ``defined``) the share of samples where f(z) is NaN or infinite, an estimate
            of the Gaussian's mass outside f's domain (standard error
            ``sqrt(p (1 - p) / n)``).
        log_abs_det: ``log |det ∂f/∂z|`` per sample, or ``None``.
        kde_z, kde_x: the kernel density estimates on their grids, ``(xs, ys, density)`` with
            ``density[i, j]`` at ``(xs[j], ys[i])``; ``kde_x`` is ``None`` when x has no 2-D
            density (all samples on a line). ``kde_z`` is of every z; ``kde_x`` of the finite x,
            scaled by ``1 - undefined_fraction`` (the mass they carry).
        figure: the matplotlib figure (displayable in a notebook).
    """

    z: Tensor
    x: Tensor
    log_density_exact: Tensor | None
    figure_path: Path | None
    invertible_hint: str
    invertible: bool | None = None
    log_abs_det: Tensor | None = None
    kde_z: Grid | None = field(default=None, repr=False)
    kde_x: Grid | None = field(default=None, repr=False)
    figure: Figure | None = field(default=None, repr=False)
    defined: Tensor | None = field(default=None, repr=False)

    @property
    def undefined_fraction(self) -> float:
        """The share of samples where f(z) is NaN or infinite (0 when ``defined`` is unknown)."""
        if self.defined is None:
            return 0.0
        return 1.0 - float(self.defined.double().mean())

    @property
    def undefined_note(self) -> str | None:
        """The sentence on the Gaussian's mass where f is undefined, or ``None`` when f is defined at every sample."""
        if self.defined is None or bool(self.defined.all()):
            return None
        return _undefined_note(int((~self.defined).sum()), len(self.defined))


def plot_density(
    f: Transformation | str | None = None,
    *,
    n: int = 20000,
    seed: int = 0,
    bounds: Sequence[float] | None = None,
    out: str | os.PathLike[str] | None = None,
    title: str | None = None,
    kde_points: int = 5000,
    resolution: int = 120,
    vectorized: bool = True,
) -> ExploreResult:
    """Show how f reshapes a standard Gaussian (the course's ``plot_density``, Oskarsson et al. 2021).

    Args:
        f: the transformation, mapping an ``(n, 2)`` float tensor to ``(n, 2)``; a string is
            read by :func:`parse_expression`; ``None`` is the course's default, a randomly
            initialised neural network (:func:`random_network` with ``seed``).
        n: number of samples z ~ N(0, I₂).
        seed: seeds the samples (a private ``torch.Generator``, the global RNG is untouched)
            and the KDE subsample.
        bounds: ``(xmin, xmax, ymin, ymax)`` of the x panels; by default the 1-99 percentiles
            of x with a margin. The z panel always shows [-3.5, 3.5]².
        out: image file to write (format from the suffix), replaced atomically; ``None`` keeps
            the figure only in the result.
        title: figure title (default: the expression, for a string ``f``).
        kde_points: the KDEs use at most this many samples (the cost is points x grid cells).
        resolution: KDE grid points per axis.
        vectorized: ``False`` for a course-style f that takes and returns one NumPy point of
            length 2; it is then applied point by point and no exact density is computed.

    The per-sample Jacobians come from two backward passes through one batched call of f
    (row i of every Jacobian is the gradient of ``x[:, i].sum()``), which is valid when f
    treats the rows of its input independently — checked on three samples first.

    Samples whose image is NaN or infinite are outside f's domain: drawn grey in the z panel,
    their share given in ``undefined_fraction`` and the caption, and left out of the fold check
    and of the densities of x, which are of the rest of the Gaussian's mass (so they integrate
    to ``1 - undefined_fraction``). A map undefined at every sample is a :class:`UserError`.
    """
    if n < 10:
        raise UserError(f"n = {n} samples are too few for a density estimate", "use n >= 10, e.g. 20000")
    if kde_points < 10:
        raise UserError(f"kde_points = {kde_points} is too few", "use e.g. 5000")
    if isinstance(f, str):
        title = f if title is None else title
        f = parse_expression(f)
    elif f is None:
        f = random_network(seed=seed)
        title = f"random network (seed {seed})" if title is None else title

    generator = torch.Generator().manual_seed(int(seed))
    z = torch.randn((n, 2), generator=generator, dtype=torch.float32)

    if vectorized:
        with torch.no_grad():
            x = _checked_output(f(z), n)
    else:
        x = _apply_pointwise(f, z)
    # A sample whose image is NaN or infinite lies outside f's domain (log of a negative
    # number): it is reported apart, and left out of the density of x and of the fold check,
    # where its finite-looking Jacobian (d log z / dz = 1/z) would otherwise pass for a fold.
    defined = torch.isfinite(x).all(dim=1)
    n_defined = int(defined.sum())
    if n_defined == 0:
        raise UserError(
            f"f is undefined (NaN or ±inf) at all {n} samples of z ~ N(0, I)",
            "give a map defined on at least part of the plane, e.g. log(1 + z**2) rather than log(-z**2)",
        )
    exact = _exact_log_density(f, z, defined) if vectorized else None

    rng = np.random.default_rng(int(seed))
    usable = np.flatnonzero(defined.numpy())
    pick = rng.choice(usable, size=min(kde_points, len(usable)), replace=False)
    # The z panel shows the whole Gaussian; with every x finite that is the same subsample.
    pick_z = pick if n_defined == n else rng.choice(n, size=min(kde_points, n), replace=False)
    z_np = z.numpy().astype(np.float64)
    x_np = x.numpy().astype(np.float64)

    box = check_bounds(bounds) if bounds is not None else robust_bounds(x_np, lower=1.0, upper=99.0, margin=0.15)
    kde_z = _kde_grid(z_np[pick_z], _Z_BOUNDS, resolution)
    kde_x = _kde_grid(x_np[pick], box, resolution) if len(pick) > 2 else None
    if kde_x is not None and n_defined < n:
        # The KDE of the defined samples integrates to 1; the pushforward of the Gaussian's mass
        # where f is defined (what the exact panel shows) integrates to that mass.
        kde_x = (kde_x[0], kde_x[1], kde_x[2] * (n_defined / n))

    log_density = log_det = None
    invertible: bool | None = None
    if exact is None:
        hint = "f could not be differentiated with autograd, so there is no exact density and invertibility was not checked"
        short = "no exact density: f is not\ndifferentiable with autograd"
    elif isinstance(exact, str):
        hint = short = exact
    else:
        log_det, hint, short, invertible = exact
        log_density = _log_standard_normal(z) - log_det
    undefined_note = _undefined_note(n - n_defined, n) if n_defined < n else None
    if undefined_note is not None:
        hint = f"{undefined_note}; {hint}"

    figure = _draw(z_np, x_np, kde_z, kde_x, box, log_density, hint, short, invertible, title, n - n_defined)
    path = save_figure(figure, out) if out is not None else None
    return ExploreResult(
        z=z,
        x=x,
        log_density_exact=log_density,
        figure_path=path,
        invertible_hint=hint,
        invertible=invertible,
        log_abs_det=log_det,
        kde_z=kde_z,
        kde_x=kde_x,
        figure=figure,
        defined=defined,
    )


def _undefined_note(n_undefined: int, n: int) -> str:
    """One plain sentence: the Gaussian's mass where f is undefined, and what the densities are of."""
    share = n_undefined / n
    # A binomial standard error: the share is an estimate of a mass from n samples.
    error = math.sqrt(share * (1 - share) / n)
    return (
        f"f is undefined (NaN or ±inf) on {_percent(share)} ± {_percent(error)} of the Gaussian's mass "
        f"({n_undefined:,} of {n:,} samples, grey in the z panel); the densities of x are of the other "
        f"{_percent(1 - share)} pushed through f, so they integrate to {1 - share:.3g}, not 1"
    )


def _percent(share: float) -> str:
    return f"{100 * share:.2g}%" if share < 0.01 else f"{100 * share:.1f}%"


# ---------------------------------------------------------------------------------------------
# The exact density by the change of variables


def _log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I₂) per row, float64."""
    z = z.double()
    return -0.5 * (z**2).sum(dim=1) - math.log(2 * math.pi)


def batched_jacobian(f: Transformation, z: Tensor) -> Tensor:
    """Per-sample Jacobians ``J[k] = ∂f(z)[k] / ∂z[k]``, shape ``(n, 2, 2)``, from two backward passes.

    Valid when f acts on each row of its input separately (true of any pointwise formula or
    MLP; false of e.g. batch normalisation in training mode). Raises ``RuntimeError`` when f is
    not differentiable by autograd.
    """
    inputs = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        outputs = _checked_output(f(inputs), len(z), keep_graph=True)
        if not outputs.requires_grad:
            raise RuntimeError("the output of f does not depend on z through autograd")
        rows = []
        for i in range(2):
            (gradient,) = torch.autograd.grad(outputs[:, i].sum(), inputs, retain_graph=i == 0, allow_unused=True)
            rows.append(torch.zeros_like(inputs) if gradient is None else gradient)
    return torch.stack(rows, dim=1).detach()


def _rows_are_independent(f: Transformation, z: Tensor) -> bool:
    """Whether f's output row k depends only on input row k, checked on (up to) three rows of
    ``z`` with a full Jacobian; give rows where f is defined, since NaN proves nothing."""
    probe = z[:3].detach().clone()
    full = torch.autograd.functional.jacobian(lambda v: _checked_output(f(v), len(probe), keep_graph=True), probe)
    full = full.double()  # (3, 2, 3, 2): output row, output coordinate, input row, input coordinate
    scale = float(full.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs().max()) or 1.0
    for a in range(len(probe)):
        for b in range(len(probe)):
            if a != b and float(full[a, :, b, :].abs().max()) > 1e-6 * scale:
                return False
    diagonal = torch.stack([full[k, :, k, :] for k in range(len(probe))])
    return bool(torch.allclose(diagonal, batched_jacobian(f, probe).double(), rtol=1e-4, atol=1e-6 * scale, equal_nan=True))


def _exact_log_density(f: Transformation, z: Tensor, defined: Tensor) -> tuple[Tensor, str, str, bool] | str | None:
    """``(log|det J|, hint, short hint, invertible)``, or a sentence saying why there is none, or ``None``.

    Only the samples where f is ``defined`` (its value finite) are judged, and the shares in the
    sentences are of those: outside f's domain a Jacobian means nothing (autograd gives
    d log z / dz = 1/z at z < 0, whose sign would pass for a fold). ``log|det J|`` is NaN there.
    """
    try:
        if not _rows_are_independent(f, z[defined]):
            return "f mixes the rows of a batch (e.g. batch normalisation), so there is no per-sample density"
        jacobian = batched_jacobian(f, z).double()
    except UserError:
        raise
    except Exception:  # noqa: BLE001 — any failure of user code under autograd means "not differentiable"
        return None

    # float32 entries multiply exactly in float64, so det is the exact determinant of the
    # float32 Jacobian; "singular" means the two products cancel to float32 rounding.
    a, b, c, d = jacobian[:, 0, 0], jacobian[:, 0, 1], jacobian[:, 1, 0], jacobian[:, 1, 1]
    det = a * d - b * c
    size = (a * d).abs() + (b * c).abs()
    finite = torch.isfinite(det) & defined
    singular = finite & (det.abs() <= 1e-5 * size)
    positive = finite & ~singular & (det > 0)
    negative = finite & ~singular & (det < 0)
    log_det = torch.where(finite, det.abs().log(), torch.full_like(det, float("nan")))

    n = int(defined.sum())
    partly = n < len(det)
    # With f undefined somewhere, every share below is of the samples where it is defined.
    samples = "the samples where f is defined" if partly else "the samples"
    every = "every sample where f is defined" if partly else "every sample"
    notes = []
    invertible: bool | None
    if int(finite.sum()) == 0:
        return f"the Jacobian of f is not finite at any of {samples}, so there is no exact density"
    if positive.any() and negative.any():
        invertible = False
        short = f"NOT INVERTIBLE: f folds the plane\n(det ∂f/∂z > 0 at {_share(positive, n)}, < 0 at {_share(negative, n)})"
        notes.append(
            f"not invertible: det ∂f/∂z is > 0 at {_share(positive, n)} and < 0 at {_share(negative, n)} of {samples}, "
            "so f folds the plane (several z reach one x) and the formula gives one preimage's term, not p(x)"
        )
    elif singular.any():
        invertible = False
        short = f"NOT INVERTIBLE: Jacobian singular\nat {_share(singular, n)} of the samples"
        notes.append(
            f"not invertible: the Jacobian is singular at {_share(singular, n)} of {samples} "
            "(f squashes them onto a curve or a point, where x has no density)"
        )
    else:
        invertible = True
        short = "det ∂f/∂z ≠ 0, one sign at all samples:\nconsistent with an invertible f"
        notes.append(f"det ∂f/∂z is non-zero with one sign at {every}: consistent with an invertible f (not a proof)")
    if partly:
        short = f"where f is defined ({_share(defined, len(det))}):\n{short}"
    if positive.any() and negative.any() and singular.any():
        notes.append(f"singular at {_share(singular, n)}")
    if not finite[defined].all():
        notes.append(f"Jacobian not finite at {_share(defined & ~finite, n)} of {samples} (left out)")
        short += f"\nJacobian not finite at {_share(defined & ~finite, n)}"
    return log_det, "; ".join(notes), short, invertible


def _share(mask: Tensor, n: int) -> str:
    count = int(mask.sum())
    percent = 100.0 * count / n
    return f"{count} ({percent:.2g}%)" if percent < 1 else f"{percent:.0f}%"


# ---------------------------------------------------------------------------------------------
# Drawing


def _kde_grid(points: np.ndarray, box: Bounds, resolution: int) -> Grid | None:
    """Gaussian KDE (Scott's bandwidth) of 2-D points on a grid; ``None`` when the points span no area."""
    xmin, xmax, ymin, ymax = box
    xs = np.linspace(xmin, xmax, int(resolution))
    ys = np.linspace(ymin, ymax, int(resolution))
    grid_x, grid_y = np.meshgrid(xs, ys, indexing="xy")
    try:
        kde = gaussian_kde(points.T)
        density = kde(np.vstack([grid_x.ravel(), grid_y.ravel()])).reshape(grid_x.shape)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not np.isfinite(density).all():
        return None
    return xs, ys, density


def _draw(
    z: np.ndarray,
    x: np.ndarray,
    kde_z: Grid | None,
    kde_x: Grid | None,
    box: Bounds,
    log_density: Tensor | None,
    hint: str,
    short: str,
    invertible: bool | None,
    title: str | None,
    n_nonfinite: int,
) -> Figure:
    panels = 3 if log_density is not None else 2
    figure = new_figure(4.9 * panels + 0.8, 4.9)
    axes = figure.subplots(1, panels)

    ax_z, ax_x = axes[0], axes[1]
    if kde_z is not None:
        image_z = ax_z.imshow(kde_z[2], origin="lower", extent=_Z_BOUNDS, cmap=DENSITY_CMAP, vmin=0, interpolation="bilinear")
        figure.colorbar(image_z, ax=ax_z, shrink=0.85, label="density (KDE)")
    ax_z.set_title("$p_z(z)$: standard Gaussian (KDE)")
    set_square_axes(ax_z, _Z_BOUNDS, "$z_1$", "$z_2$")
    ax_z.set_box_aspect(1)
    if n_nonfinite:
        # Where f is undefined, drawn over the Gaussian so the user sees the domain's edge.
        outside = z[~np.isfinite(x).all(axis=1)][:_MAX_UNDEFINED_DOTS]
        ax_z.scatter(
            outside[:, 0], outside[:, 1], s=3, c=UNDEFINED_COLOR, alpha=0.8, edgecolors="none", rasterized=True,
            label=f"f undefined (NaN/inf): {_percent(n_nonfinite / len(z))}",
        )
        ax_z.legend(loc="upper right", fontsize="x-small", markerscale=3, framealpha=0.85)

    exact_density = None
    if log_density is not None:
        with np.errstate(over="ignore"):
            exact_density = np.exp(log_density.numpy())
        keep = np.isfinite(exact_density) & np.isfinite(x).all(axis=1)
        exact_density, exact_x = exact_density[keep], x[keep]
    # The KDE sets the colour scale of both x panels; the exact density may lift it a little
    # (a KDE flattens peaks) but not by much, since near a fold the exact density blows up.
    vmax = float(kde_x[2].max()) if kde_x is not None else 0.0
    if exact_density is not None and len(exact_density):
        top = float(np.quantile(exact_density, 0.98))
        vmax = min(max(vmax, top), 1.5 * vmax) if vmax > 0 else top
    vmax = vmax or 1.0

    x_title = "$p(x)$, $x = f(z)$ (KDE)"
    if n_nonfinite:
        x_title = f"$p(x)$, $x = f(z)$ (KDE), of the {_percent(1 - n_nonfinite / len(z))}\nof the Gaussian where f is defined"
    if kde_x is not None:
        image_x = ax_x.imshow(kde_x[2], origin="lower", extent=box, cmap=DENSITY_CMAP, vmin=0, vmax=vmax, interpolation="bilinear")
    else:
        image_x = None
        ax_x.set_facecolor(matplotlib.colormaps[DENSITY_CMAP](0.0))
        shown = x[np.isfinite(x).all(axis=1)][:2000]
        ax_x.scatter(shown[:, 0], shown[:, 1], s=3, c="white", edgecolors="none", alpha=0.7, label="samples")
        _note(ax_x, "x spans no area (samples on a line or a point):\nno 2-D density to estimate; dots are samples", warn=True)
    ax_x.set_title(x_title)
    _set_x_axes(ax_x, box)

    if panels == 3:
        ax_exact = axes[2]
        ax_exact.set_facecolor(matplotlib.colormaps[DENSITY_CMAP](0.0))  # empty space reads as density 0
        if exact_density is not None and len(exact_density):
            order = np.argsort(exact_density)  # densest on top
            image_x = ax_exact.scatter(
                exact_x[order, 0],
                exact_x[order, 1],
                c=exact_density[order],
                s=2,
                cmap=DENSITY_CMAP,
                vmin=0,
                vmax=vmax,
                edgecolors="none",
                rasterized=True,
            )
        ax_exact.set_title("exact $p(x)$ at the samples\n$\\log p_z(z) - \\log|\\det \\partial f/\\partial z|$", fontsize="medium")
        _set_x_axes(ax_exact, box)
        _note(ax_exact, short, warn=invertible is False)
        colorbar_axes = [ax_x, ax_exact]
    else:
        _note(ax_x, short, warn=invertible is False, where="bottom")
        colorbar_axes = [ax_x]
    # The whole sentence as a caption under the panels, where it covers nothing.
    # (Placed by hand in a strip the layout leaves free: constrained layout does not always make
    # room for a supxlabel under axes with a fixed box aspect.)
    caption = textwrap.fill(hint, 160)
    strip = 0.06 + 0.035 * caption.count("\n")
    figure.get_layout_engine().set(rect=(0, strip, 1, 1 - strip))
    figure.text(
        0.5, strip / 2, caption, ha="center", va="center", fontsize="small",
        color="#b02000" if invertible is False else "0.25",
    )
    if image_x is not None:
        figure.colorbar(image_x, ax=colorbar_axes, shrink=0.85, label="density", extend="max")
    if title:
        figure.suptitle(title)
    return figure


def _set_x_axes(ax: Any, box: Bounds) -> None:
    """Square panels for x whatever its ranges (a map may stretch one axis far more than the other)."""
    set_square_axes(ax, box)
    ax.set_aspect("auto")
    ax.set_box_aspect(1)


def _note(ax: Any, text: str, warn: bool = False, where: str = "top") -> None:
    """A short wrapped note in a box inside the panel."""
    y, va = (0.98, "top") if where == "top" else (0.02, "bottom")
    ax.text(
        0.02,
        y,
        text,
        transform=ax.transAxes,
        ha="left",
        va=va,
        fontsize="x-small",
        color="black",
        bbox={"boxstyle": "round", "facecolor": "#ffe0d6" if warn else "white", "alpha": 0.85, "edgecolor": "none"},
    )


# ---------------------------------------------------------------------------------------------
# Transformations: checking f's output, course-style NumPy functions, the random network


def _checked_output(value: Any, n: int, keep_graph: bool = False) -> Tensor:
    """f's output as an ``(n, 2)`` floating tensor, or a :class:`UserError`."""
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(np.asarray(value))
        except Exception:  # noqa: BLE001
            raise UserError(
                f"f returned a {type(value).__name__}, not a tensor", "return an (n, 2) tensor, e.g. torch.stack([z1, z2], 1)"
            ) from None
    if tuple(value.shape) != (n, 2):
        raise UserError(
            f"f must map the (n, 2) samples to shape (n, 2) = ({n}, 2) but gave {tuple(value.shape)}",
            "return two numbers per sample, e.g. f = lambda z: 2 * z + 1",
        )
    if not value.is_floating_point():
        value = value.to(torch.float32)
    return value if keep_graph else value.detach().cpu()


def _apply_pointwise(f: Callable[[np.ndarray], Any], z: Tensor) -> Tensor:
    """Apply a course-style f (one NumPy point of length 2 in, one out) to every row."""
    rows = []
    for point in z.numpy().astype(np.float64):
        value = np.asarray(f(point), dtype=np.float64).reshape(-1)
        if value.shape != (2,):
            raise UserError(
                f"f returned {value.size} numbers for one point", "return a NumPy array of length 2, e.g. np.exp(z)"
            )
        rows.append(value)
    return torch.from_numpy(np.stack(rows)).to(torch.float32)


class _Sine(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "sin": _Sine,
}


def random_network(seed: int = 0, hidden: int = 16, layers: int = 2, activation: str = "tanh") -> nn.Sequential:
    """A randomly initialised MLP 2 → 2, the default f of the course's ``plot_density`` (Oskarsson et al. 2021).

    ``layers`` hidden layers of width ``hidden`` with the given activation, then a linear map to
    2-D. Weights are Gaussian with variance 4 / fan-in and biases standard Gaussian — larger
    than a training initialisation, so that the activations bend the Gaussian visibly. The
    network depends on ``seed`` only (a private generator; the global RNG is untouched) and its
    parameters do not require gradients, so it is a fixed function of z.
    """
    if activation not in _ACTIVATIONS:
        raise UserError(f"unknown activation {activation!r}", suggest(activation, sorted(_ACTIVATIONS)))
    if int(layers) < 1 or int(hidden) < 1:
        raise UserError(f"a network with {layers} layers of width {hidden} is empty", "use layers >= 1 and hidden >= 1")
    generator = torch.Generator().manual_seed(int(seed))
    sizes = [2] + [int(hidden)] * int(layers) + [2]
    modules: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
        with torch.no_grad():
            linear.weight.copy_(torch.randn((fan_out, fan_in), generator=generator) * (2.0 / math.sqrt(fan_in)))
            linear.bias.copy_(torch.randn((fan_out,), generator=generator))
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*modules).requires_grad_(False).eval()
