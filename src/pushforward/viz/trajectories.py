"""Pictures of a continuous flow in motion: paths from the Gaussian to the data, and the density
evolving over t as an animated GIF.

The continuous flow of the DyCon post (P. Mordant, "Deep generative models and their
applications", 2021) moves each point by dx/dt = h(t, x) from z at t = 0 to g(z) at t = 1; these
figures show that motion. The inputs are plain arrays and a log-density callable, so any model
that can give states over time (``trajectories``) and the density at a time can be drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from pushforward.atomic import atomic_path
from pushforward.errors import UserError
from pushforward.viz._common import (
    DENSITY_CMAP,
    SAMPLE_COLOR,
    axis_labels,
    check_bounds,
    new_figure,
    robust_bounds,
    save_figure,
    set_square_axes,
)
from pushforward.viz.grid import density_on_grid

NOISE_COLOR = "#1f5fbf"


def plot_trajectories(
    paths: np.ndarray,
    out: str | os.PathLike[str],
    *,
    data: np.ndarray | None = None,
    bounds: Sequence[float] | None = None,
    title: str = "",
    labels: Sequence[str] | None = None,
) -> Path:
    """Paths of points from the Gaussian (blue, t = 0) to the model's samples (red, t = 1).

    Args:
        paths: ``(times, n, d)`` states along the flow (the first two coordinates are drawn).
        out: image file, replaced atomically.
        data: optional training points drawn faintly underneath, in the same units.
        bounds: ``(xmin, xmax, ymin, ymax)``; by default the bulk of the paths and the data.
        title: the figure's title.
        labels: the data's column names, for the axes (default x₁, x₂).
    """
    paths = np.asarray(paths, dtype=np.float64)
    if paths.ndim != 3 or paths.shape[0] < 2 or paths.shape[2] < 2:
        raise UserError(f"paths of shape {paths.shape} cannot be drawn", "give (times >= 2, n, d >= 2) states")
    finite = np.isfinite(paths[:, :, :2]).all(axis=(0, 2))
    paths = paths[:, finite, :2]
    everything = paths.reshape(-1, 2) if data is None else np.concatenate([paths.reshape(-1, 2), np.asarray(data)[:, :2]])
    box = check_bounds(bounds) if bounds is not None else robust_bounds(everything)
    figure = new_figure(5.8, 5.4)
    ax = figure.subplots()
    if data is not None:
        shown = np.asarray(data)[:5000, :2]
        ax.scatter(shown[:, 0], shown[:, 1], s=2, c="0.75", alpha=0.5, edgecolors="none", label="data")
    # One LineCollection-free loop would be slow for many paths; plotting the (times, n) arrays
    # column-wise draws every path in one call.
    ax.plot(paths[:, :, 0], paths[:, :, 1], color="0.25", alpha=0.35, linewidth=0.6)
    ax.scatter(paths[0, :, 0], paths[0, :, 1], s=8, c=NOISE_COLOR, edgecolors="white", linewidths=0.3, label="t = 0: the Gaussian", zorder=3)
    ax.scatter(paths[-1, :, 0], paths[-1, :, 1], s=8, c=SAMPLE_COLOR, edgecolors="white", linewidths=0.3, label="t = 1: samples", zorder=3)
    set_square_axes(ax, box, *axis_labels(labels, 2))
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.set_title(title or f"{paths.shape[1]} trajectories of the flow")
    return save_figure(figure, out)


def animate_density(
    log_prob_at: Callable[[Tensor, float], Tensor],
    times: Sequence[float],
    out: str | os.PathLike[str],
    *,
    bounds: Sequence[float],
    resolution: int = 100,
    title: str = "",
    fps: int = 8,
    labels: Sequence[str] | None = None,
) -> Path:
    """A GIF of ``p_t`` on a grid, one frame per time in ``times`` (written with Pillow).

    ``log_prob_at(points, t)`` gives ``log p_t`` of ``(m, 2)`` points. Each frame has its own
    colour scale: the density sharpens a lot from the Gaussian to the data. ``labels`` are the
    data's column names, for the axes.
    """
    from PIL import Image

    target = Path(out)
    if target.suffix.lower() != ".gif":
        raise UserError(f"cannot write an animation to '{target}'", "end the file name with .gif")
    box = check_bounds(bounds)
    if len(times) < 2:
        raise UserError("an animation needs at least 2 frames", "ask for more frames")
    figure = new_figure(5.2, 5.0, dpi=80)
    ax = figure.subplots()
    image = None
    pictures = []
    for t in times:
        _, _, frame = density_on_grid(lambda x, t=t: log_prob_at(x, t), box, resolution=resolution)
        if image is None:
            image = ax.imshow(frame, origin="lower", extent=box, cmap=DENSITY_CMAP, interpolation="bilinear")
            set_square_axes(ax, box, *axis_labels(labels, 2))
        image.set_data(frame)
        image.set_clim(0, float(np.quantile(frame, 0.999)) or 1.0)
        ax.set_title(f"{title}  t = {t:.2f}" if title else f"density at t = {t:.2f}")
        figure.canvas.draw()
        if figure.get_layout_engine() is not None:
            # The first frame's layout holds for all: only the image and the title's digits
            # change. Laying the figure out again for each frame took more than half of each
            # frame's time, and let the axes shift by a pixel between frames.
            figure.set_layout_engine("none")
        pictures.append(Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).convert("RGB"))
    with atomic_path(target) as temporary:
        pictures[0].save(temporary, format="GIF", save_all=True, append_images=pictures[1:], duration=int(1000 / fps), loop=0)
    return target
