"""Shared plumbing for the figures: headless figures, atomic saving, robust axis limits.

Figures are built with the object-oriented API on an Agg canvas (``matplotlib.figure.Figure``),
never through ``pyplot``: nothing opens a window, no global backend is switched (so a notebook
keeps its own), and a figure is freed as soon as it is dropped instead of living on in pyplot's
registry.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pushforward.atomic import atomic_path
from pushforward.errors import UserError

Bounds = tuple[float, float, float, float]
"""Axis limits ``(xmin, xmax, ymin, ymax)`` of a 2-D plot."""

# One sequential colour map for every density in the package, so panels read alike; the
# samples drawn on top of it are red, which viridis never uses.
DENSITY_CMAP = "viridis"
SAMPLE_COLOR = "#e3170a"


def new_figure(width: float, height: float, **kwargs: Any) -> Figure:
    """A figure with an Agg canvas and constrained layout (labels and colour bars never overlap)."""
    figure = Figure(figsize=(width, height), layout="constrained", **kwargs)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, out: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write ``figure`` to ``out`` atomically, in the format named by the file's suffix.

    The image goes to a temporary file beside ``out`` that replaces it only once complete, so an
    existing figure survives a failed or interrupted save.
    """
    target = Path(out)
    fmt = target.suffix.lower().lstrip(".")
    supported = figure.canvas.get_supported_filetypes()
    if fmt not in supported:
        shown = f"'{target.suffix}'" if target.suffix else "no suffix"
        raise UserError(
            f"cannot tell the image format of {target} ({shown})",
            f"end the file name with one of: {', '.join('.' + s for s in sorted(supported))}",
        )
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format=fmt, dpi=dpi)
    return target


def robust_bounds(points: np.ndarray, lower: float = 0.5, upper: float = 99.5, margin: float = 0.1) -> Bounds:
    """Axis limits holding the bulk of 2-D ``points``: percentiles ``lower``..``upper`` plus a margin.

    Percentiles rather than min/max so that a few outliers (or a heavy tail such as a
    log-normal's) do not shrink the interesting part of the picture to a dot. Non-finite rows
    are ignored; a coordinate with no spread gets a unit half-width, and 1-D points are drawn
    against a zero second coordinate.
    """
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    if points.shape[1] == 1:
        points = np.concatenate([points, np.zeros_like(points)], axis=1)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return (-3.0, 3.0, -3.0, 3.0)
    limits: list[float] = []
    for column in points[:, :2].T:
        lo, hi = np.percentile(column, [lower, upper])
        span = hi - lo
        if not span > 1e-12 * max(1.0, abs(lo)):
            lo, hi, span = lo - 1.0, hi + 1.0, 2.0
        limits += [float(lo - margin * span), float(hi + margin * span)]
    return (limits[0], limits[1], limits[2], limits[3])


def check_bounds(bounds: Any) -> Bounds:
    """``bounds`` as four floats with ``xmin < xmax`` and ``ymin < ymax``, or a :class:`UserError`."""
    try:
        xmin, xmax, ymin, ymax = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise UserError(
            f"bounds {bounds!r} are not four numbers", "give (xmin, xmax, ymin, ymax), e.g. (-4, 4, -4, 4)"
        ) from None
    if not (np.isfinite([xmin, xmax, ymin, ymax]).all() and xmin < xmax and ymin < ymax):
        raise UserError(
            f"bounds {bounds!r} do not describe a box", "give finite (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax"
        )
    return (xmin, xmax, ymin, ymax)


def set_square_axes(ax: Any, bounds: Bounds, xlabel: str = "$x_1$", ylabel: str = "$x_2$") -> None:
    """Limits, labels, and an equal aspect unless the box is so elongated it would be a sliver."""
    xmin, xmax, ymin, ymax = bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ratio = (xmax - xmin) / (ymax - ymin)
    ax.set_aspect("equal" if 1 / 4 <= ratio <= 4 else "auto")


def histogram_density(points: np.ndarray, bounds: Bounds, bins: int) -> np.ndarray:
    """2-D histogram as a density per unit area, shape ``(bins, bins)`` with rows along y.

    Normalized by *all* finite points, not only those inside ``bounds``, so it is in the same
    units as a model density on the same box and the two can share one colour scale.
    """
    points = np.asarray(points, dtype=np.float64)
    points = points[np.isfinite(points[:, :2]).all(axis=1)]
    xmin, xmax, ymin, ymax = bounds
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=bins, range=[[xmin, xmax], [ymin, ymax]])
    area = (xmax - xmin) / bins * (ymax - ymin) / bins
    return counts.T / (max(len(points), 1) * area)


def default_bins(n: int) -> int:
    """Histogram bins per axis: enough detail for big data sets, not mostly-empty cells for small ones."""
    return int(np.clip(np.sqrt(max(n, 1)) / 1.5, 20, 150))


def axis_labels(columns: Sequence[str] | None, count: int = 2) -> list[str]:
    """Axis labels for the first ``count`` coordinates: the data's column names when known.

    Without names (``None``, or fewer than ``count``) the coordinates are x₁, x₂, ...; a name
    of that generated form (``x1``, which toys and ``.npy`` files get) is set as ``$x_1$`` too,
    so such figures look as before. Any other name is shown as written, its ``$`` escaped so
    that matplotlib does not read it as mathematics.
    """
    if columns is not None and len(columns) < count:
        columns = None  # half named, half numbered axes would read as two different data sets
    labels = []
    for index in range(count):
        name = str(columns[index]) if columns is not None else f"x{index + 1}"
        generated = re.fullmatch(r"x(\d+)", name)
        labels.append(f"$x_{{{generated.group(1)}}}$" if generated else name.replace("$", r"\$"))
    return labels
