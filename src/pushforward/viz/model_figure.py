"""Figures of a fitted model: training data beside the learned density, samples, training curves.

The two-panel layout follows Figure 1 of P. Mordant, "Deep generative models and their
applications" (DyCon blog, 2021): the training data on the left; on the right the density the
model learned, as a heat map, with a few of its samples as red dots. Both panels share axis
limits and one colour scale in the same units (probability per unit area), so they can be
compared by eye.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pushforward.errors import NotTractable, UserError
from pushforward.viz._common import (
    DENSITY_CMAP,
    SAMPLE_COLOR,
    axis_labels,
    check_bounds,
    default_bins,
    histogram_density,
    new_figure,
    robust_bounds,
    save_figure,
    set_square_axes,
)
from pushforward.viz.grid import density_on_grid, density_on_line

LogProb = Callable[[Tensor], Tensor]


def plot_model(
    data: np.ndarray,
    *,
    samples: np.ndarray,
    log_prob: LogProb | None = None,
    bounds: Sequence[float] | None = None,
    title: str = "",
    out: str | os.PathLike[str],
    n_dots: int = 200,
    resolution: int = 200,
    bins: int | None = None,
    device: torch.device | str | None = None,
    labels: Sequence[str] | None = None,
    shown: str | None = None,
) -> Path:
    """Training data beside what the model learned (after Figure 1 of Mordant, DyCon blog, 2021).

    Args:
        data: training points, ``(n, d)`` (other shapes are flattened to ``(n, -1)``).
        samples: model samples in the same units, ``(m, d)``.
        log_prob: the model's log-density on points of the data's dimension (``(k, d)``
            tensor to ``(k,)``; used for ``d`` = 1 or 2), or ``None`` for a family without a
            likelihood (a GAN); a callable that raises
            :class:`~pushforward.errors.NotTractable` counts as ``None``.
        bounds: ``(xmin, xmax, ymin, ymax)`` shared by both panels; by default the 0.5-99.5
            percentiles of the data with a 10% margin.
        title: the figure's title.
        out: image file to write (format from its suffix), replaced atomically.
        n_dots: how many samples to draw as red dots on the density.
        resolution: grid points per axis of the density heat map (at least 400 along the
            curve of 1-D data).
        bins: histogram bins per axis (default grows with the number of points).
        device: where ``log_prob`` wants its points (see :func:`density_on_grid`).
        labels: the data's column names, for the axis labels (default x₁, x₂; see
            :func:`~pushforward.viz._common.axis_labels`).
        shown: for ``d > 2``, which coordinates the first two are, for the title (default
            "first 2 of d coordinates").

    Left: a 2-D histogram of the data. Right: with ``log_prob``, the learned density as a heat
    map with ``n_dots`` samples on top; without it, a 2-D histogram of the samples with the
    same bins. For ``d > 2`` both panels show the first two coordinates (the title says so)
    and no heat map, since the density of a 2-D slice is not the model's ``log_prob``. For
    ``d == 1`` the panels are histograms of the data and of the samples, each under the
    model's density curve when it has one (its mass on the axis in the legend).
    Rows of ``samples`` that are not finite are left out and counted in the panel title.

    Returns:
        the path written.
    """
    data = _as_rows(data, "data")
    samples = _as_rows(samples, "samples")
    if data.shape[1] != samples.shape[1]:
        raise UserError(
            f"data have {data.shape[1]} coordinates but samples have {samples.shape[1]}",
            "pass samples in the same space as the data (after inverse preprocessing)",
        )
    dim = data.shape[1]
    finite = np.isfinite(samples).all(axis=1)
    n_bad = int((~finite).sum())
    samples = samples[finite]
    data = data[np.isfinite(data).all(axis=1)]
    if len(data) == 0:
        raise UserError("the data have no finite rows", "check the data file for NaN or inf values")
    bad_note = f", {n_bad} non-finite left out" if n_bad else ""

    if dim == 1:
        figure = _plot_model_1d(
            data[:, 0], samples[:, 0], log_prob, bounds, title, bad_note, device, axis_labels(labels, 1)[0], resolution
        )
        return save_figure(figure, out)
    xlabel, ylabel = axis_labels(labels, 2)

    box = check_bounds(bounds) if bounds is not None else robust_bounds(data)
    heat: np.ndarray | None = None
    if log_prob is not None and dim == 2:
        try:
            _, _, heat = density_on_grid(log_prob, box, resolution=resolution, device=device)
        except NotTractable:
            heat = None
    if bins is None:
        # Two histograms side by side get the bins the smaller sample can fill, so that one
        # panel is not just noisier than the other.
        bins = default_bins(len(data) if heat is not None or not len(samples) else min(len(data), len(samples)))
    left = histogram_density(data, box, int(bins))

    if heat is not None:
        right = heat
    else:
        right = histogram_density(samples, box, int(bins)) if len(samples) else np.zeros_like(left)
    # One colour scale for both panels (same units). The top 0.1% of the right panel may be
    # clipped so that a needle-sharp spike of a model does not turn the whole picture dark.
    right_top = float(np.quantile(right, 0.999)) if heat is not None else float(right.max())
    vmax = max(float(left.max()), right_top) or 1.0

    figure = new_figure(10.5, 4.8)
    ax_data, ax_model = figure.subplots(1, 2, sharex=True, sharey=True)
    extent = box
    image = ax_data.imshow(left, origin="lower", extent=extent, cmap=DENSITY_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    ax_data.set_title(f"training data ({len(data):,} points)")

    ax_model.imshow(
        right,
        origin="lower",
        extent=extent,
        cmap=DENSITY_CMAP,
        vmin=0,
        vmax=vmax,
        interpolation="bilinear" if heat is not None else "nearest",
    )
    if heat is not None:
        dots = samples[: max(int(n_dots), 0)]
        ax_model.scatter(
            dots[:, 0], dots[:, 1], s=7, c=SAMPLE_COLOR, edgecolors="white", linewidths=0.3, label=f"{len(dots)} samples"
        )
        if len(dots):
            ax_model.legend(loc="upper right", fontsize="small", framealpha=0.8)
        ax_model.set_title(f"learned density $p_\\theta(x)$ and samples{bad_note}")
    else:
        why = "model has no likelihood" if dim == 2 else "histogram"
        ax_model.set_title(f"model samples ({len(samples):,}; {why}){bad_note}")

    for ax in (ax_data, ax_model):
        set_square_axes(ax, box, xlabel, ylabel)
    ax_model.tick_params(labelleft=True)
    figure.colorbar(image, ax=[ax_data, ax_model], label="density (per unit area)", shrink=0.9)
    full_title = title
    if dim > 2:
        shown = shown or f"first 2 of {dim} coordinates"
        full_title = f"{title} — {shown}" if title else shown
    if full_title:
        figure.suptitle(full_title)
    return save_figure(figure, out)


def plot_samples(
    data: np.ndarray,
    samples: np.ndarray,
    out: str | os.PathLike[str],
    *,
    bounds: Sequence[float] | None = None,
    title: str = "",
    max_points: int = 2000,
    labels: Sequence[str] | None = None,
) -> Path:
    """Scatter of data (grey) and model samples (red) on the same axes: the first two coordinates.

    Returns the path written. At most ``max_points`` of each are drawn, so the overlap stays
    readable; non-finite rows are left out. ``labels`` are the data's column names, for the axes.
    """
    data = _as_rows(data, "data")
    samples = _as_rows(samples, "samples")
    if data.shape[1] < 2 or samples.shape[1] < 2:
        raise UserError("plot_samples needs at least 2 coordinates", "use plot_model for 1-D data")
    data = data[np.isfinite(data[:, :2]).all(axis=1)][:max_points]
    samples = samples[np.isfinite(samples[:, :2]).all(axis=1)][:max_points]
    box = check_bounds(bounds) if bounds is not None else robust_bounds(data if len(data) else samples)
    figure = new_figure(5.6, 5.2)
    ax = figure.subplots()
    ax.scatter(data[:, 0], data[:, 1], s=5, c="0.55", alpha=0.6, edgecolors="none", label=f"data ({len(data)})")
    ax.scatter(samples[:, 0], samples[:, 1], s=5, c=SAMPLE_COLOR, alpha=0.6, edgecolors="none", label=f"samples ({len(samples)})")
    set_square_axes(ax, box, *axis_labels(labels, 2))
    ax.legend(loc="upper right", fontsize="small", markerscale=2, framealpha=0.8)
    dim = data.shape[1]
    suffix = f" — first 2 of {dim} coordinates" if dim > 2 else ""
    if title or suffix:
        ax.set_title(f"{title}{suffix}" if title else suffix.lstrip(" —"))
    return save_figure(figure, out)


# Columns of a history that are bookkeeping, not curves.
_NOT_CURVES = {"step", "time", "lr", "epoch", "elapsed", "wall_time", "seconds"}
_VALIDATION_PREFIXES = ("val", "valid", "validation", "test", "eval")


def plot_history(
    history_rows: Sequence[Mapping[str, Any]],
    out: str | os.PathLike[str],
    *,
    title: str = "",
    columns: Sequence[str] | None = None,
) -> Path:
    """Training curves against the step: training losses on the left, validation metrics on the right.

    Args:
        history_rows: one mapping per logged step, e.g. the rows of ``history.csv`` (values may
            be numbers or strings as read by :class:`csv.DictReader`; empty means "not logged").
        out: image file to write, replaced atomically.
        title: the figure's title.
        columns: the columns to draw; by default every numeric column except ``step``,
            ``time``, ``lr`` and other bookkeeping (``epoch``, ``elapsed``, names starting
            with ``time``).

    Columns whose name starts with ``val``/``valid``/``test``/``eval`` go on a separate
    "validation" panel, since they are logged less often and often in other units (nats vs a
    GAN's critic loss). Columns ending in ``_distance`` (a Wasserstein critic's estimate of the
    distance) get a panel of their own; when per-group losses (``critic_loss``, ...) exist, the
    trainer's summed ``loss`` is left out. Noisy training curves (more than 50 points) are drawn faintly with a
    moving average on top. x is the ``step`` column, else the row number.

    Returns:
        the path written.
    """
    rows = list(history_rows)
    if not rows:
        raise UserError("the training history is empty", "train for at least one logged step before plotting")
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    if "step" in names:
        steps, x_label = _column(rows, "step"), "step"
    else:
        steps, x_label = np.arange(len(rows), dtype=np.float64), "logged row"

    if columns is None:
        candidates = [k for k in names if k.lower() not in _NOT_CURVES and not k.lower().startswith("time")]
    else:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise UserError(f"no column {unknown[0]!r} in the history", f"choose from: {', '.join(names)}")
        candidates = list(columns)
    curves = {}
    for name in candidates:
        values = _column(rows, name)
        if np.isfinite(values).any():
            curves[name] = values
    if not curves:
        raise UserError("the training history has no numeric column to draw", f"its columns are: {', '.join(names)}")

    if columns is None and any(k.endswith("_loss") for k in curves):
        # Several parameter groups (a GAN's critic and generator): their own losses are drawn,
        # and the trainer's "loss" (their sum) means nothing on its own.
        curves.pop("loss", None)
    validation = {k: v for k, v in curves.items() if k.lower().startswith(_VALIDATION_PREFIXES)}
    distance = {k: v for k, v in curves.items() if k.endswith("_distance") and k not in validation}
    training = {k: v for k, v in curves.items() if k not in validation and k not in distance}
    panels = (("training", training), ("critic's distance estimate", distance), ("validation", validation))
    groups = [(label, group) for label, group in panels if group]

    figure = new_figure(5.2 * len(groups) + 0.6, 4.2)
    axes = figure.subplots(1, len(groups), squeeze=False)[0]
    colors = [f"C{i}" for i in range(10)]
    color_index = 0
    for ax, (label, group) in zip(axes, groups):
        for name, values in group.items():
            color = colors[color_index % len(colors)]
            color_index += 1
            keep = np.isfinite(values) & np.isfinite(steps)
            x, y = steps[keep], values[keep]
            if len(y) > 50:
                ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(x, _moving_average(y, max(5, len(y) // 50)), color=color, linewidth=1.6, label=f"{name} (smoothed)")
            else:
                ax.plot(x, y, color=color, linewidth=1.4, marker="o" if len(y) <= 30 else None, markersize=3, label=name)
        ax.set_xlabel(x_label)
        ax.set_ylabel("value" if len(group) > 1 else next(iter(group)))
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", framealpha=0.8)
    if title:
        figure.suptitle(title)
    return save_figure(figure, out)


def _as_rows(array: Any, what: str) -> np.ndarray:
    """``array`` as a float64 ``(n, d)`` matrix (tensors moved to the CPU, images flattened)."""
    if isinstance(array, Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim == 0 or len(array) == 0:
        raise UserError(f"no {what} to plot (shape {array.shape})", f"pass at least one row of {what}")
    return array.reshape(len(array), -1)


def _column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    """One column as floats; missing, empty or non-numeric cells become NaN."""
    values = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        value = row.get(name)
        if value is None or value == "":
            continue
        try:
            values[i] = float(value)
        except (TypeError, ValueError):
            pass
    return values


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with the window shrinking at the ends (no phase lag, no padding bias)."""
    window = max(1, min(window, len(values)))
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    half = window // 2
    lo = np.clip(np.arange(len(values)) - half, 0, len(values))
    hi = np.clip(np.arange(len(values)) + window - half, 0, len(values))
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def _plot_model_1d(
    data: np.ndarray,
    samples: np.ndarray,
    log_prob: LogProb | None,
    bounds: Sequence[float] | None,
    title: str,
    bad_note: str,
    device: torch.device | str | None,
    label: str,
    resolution: int,
) -> Any:
    """The 1-D version of :func:`plot_model`: histograms of the data and of the samples, each
    under the model's density curve when it has one, so the curve is judged against the data."""
    if bounds is not None:
        lo, hi = (float(b) for b in list(bounds)[:2])
    else:
        lo, hi, _, _ = robust_bounds(np.stack([data, data], axis=1))
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UserError(f"bounds {bounds!r} do not describe an interval", "give (xmin, xmax) with xmin < xmax")
    curve = None
    if log_prob is not None:
        try:
            curve = density_on_line(log_prob, (lo, hi), resolution=max(int(resolution), 400), device=device)
        except NotTractable:
            curve = None
    edges = np.linspace(lo, hi, default_bins(len(data)) + 1)
    width = edges[1] - edges[0]
    figure = new_figure(10.0, 4.0)
    ax_data, ax_model = figure.subplots(1, 2, sharex=True, sharey=True)
    # Normalised by all points, not those in view, so the bars are in the curve's units.
    ax_data.hist(data, bins=edges, weights=np.full(len(data), 1.0 / (len(data) * width)), color="0.6", label="data")
    ax_data.set_title(f"training data ({len(data):,} points)")
    if len(samples):
        weights = np.full(len(samples), 1.0 / (len(samples) * width))
        ax_model.hist(samples, bins=edges, weights=weights, color=SAMPLE_COLOR, alpha=0.45, label="samples")
    if curve is not None:
        xs, density = curve
        # The mass on the axis tells whether the model puts much of its density out of view.
        mass = float(np.trapezoid(density, xs))
        for ax in (ax_data, ax_model):
            ax.plot(xs, density, color="black", linewidth=1.4, label=f"$p_\\theta(x)$ (mass {mass:.3f} on this axis)")
        ax_model.set_title(f"model: samples ({len(samples):,}) and density{bad_note}")
    else:
        ax_model.set_title(f"model samples ({len(samples):,}; no likelihood){bad_note}")
    for ax in (ax_data, ax_model):
        ax.set_xlim(lo, hi)
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="upper right")
    ax_model.tick_params(labelleft=True)
    if title:
        figure.suptitle(title)
    return figure
