"""What a latent-variable model (a VAE) does with its data: the code space and reconstructions.

Left: training points encoded to their posterior means in latent space, coloured by where they
sit in data space, over a cloud of prior draws — holes in the aggregate posterior that the
prior still covers are where blurry samples come from. Right: data points (grey) and their
reconstructions (red), joined by a segment.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pushforward.viz._common import SAMPLE_COLOR, axis_labels, new_figure, robust_bounds, save_figure, set_square_axes


def plot_latent(
    data: np.ndarray,
    latents: np.ndarray,
    reconstructions: np.ndarray,
    out: str | os.PathLike[str],
    *,
    prior_samples: np.ndarray | None = None,
    title: str = "",
    bounds: tuple[float, float, float, float] | None = None,
    joined: int = 300,
    labels: Sequence[str] | None = None,
) -> Path:
    """Encoded points in latent space beside data and reconstructions (first two coordinates).

    Args:
        data: ``(n, d)`` points in data units.
        latents: ``(n, k)`` their codes (posterior means); ``k = 1`` is drawn against 0.
        reconstructions: ``(n, d)`` the decoder means at those codes, in data units.
        out: image file, replaced atomically.
        prior_samples: ``(m, k)`` prior draws shown in grey under the codes.
        bounds: data-space limits of the right panel (default: from the data).
        joined: how many data–reconstruction pairs get a connecting segment.
        labels: the data's column names, for the axes of the data panel (default x₁, x₂).
    """
    data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    reconstructions = np.asarray(reconstructions, dtype=np.float64).reshape(len(reconstructions), -1)
    latents = _two_columns(np.asarray(latents, dtype=np.float64).reshape(len(latents), -1))
    figure = new_figure(10.5, 4.8)
    ax_latent, ax_data = figure.subplots(1, 2)

    cloud = latents if prior_samples is None else np.concatenate([latents, _two_columns(np.asarray(prior_samples, dtype=np.float64).reshape(len(prior_samples), -1))])
    latent_box = robust_bounds(cloud)
    if prior_samples is not None:
        prior = _two_columns(np.asarray(prior_samples, dtype=np.float64).reshape(len(prior_samples), -1))
        ax_latent.scatter(prior[:, 0], prior[:, 1], s=3, c="0.8", edgecolors="none", label="prior draws")
    colour = data[:, 0] + 0.35 * (data[:, 1] if data.shape[1] > 1 else 0.0)
    ax_latent.scatter(latents[:, 0], latents[:, 1], s=3, c=colour, cmap="turbo", edgecolors="none", label="encoded data")
    set_square_axes(ax_latent, latent_box, "$z_1$", "$z_2$")
    ax_latent.legend(loc="upper right", fontsize="small", markerscale=3, framealpha=0.8)
    ax_latent.set_title("posterior means of training points (colour: position in x)")

    if data.shape[1] == 1:
        _draw_reconstructions_1d(ax_data, data[:, 0], reconstructions[:, 0], axis_labels(labels, 1)[0])
    else:
        _draw_reconstructions(ax_data, data, reconstructions, bounds, joined, labels)
    ax_data.legend(loc="upper left" if data.shape[1] == 1 else "upper right", fontsize="small", markerscale=3, framealpha=0.8)
    ax_data.set_title("data and their reconstructions")
    if title:
        figure.suptitle(title)
    return save_figure(figure, out)


def _draw_reconstructions(
    ax: Any, data: np.ndarray, reconstructions: np.ndarray, bounds: tuple[float, float, float, float] | None,
    joined: int, labels: Sequence[str] | None,
) -> None:
    """Data (grey) and their reconstructions (red) in the first two coordinates, the first
    ``joined`` pairs linked by a segment."""
    box = bounds if bounds is not None else robust_bounds(data)
    pairs = min(joined, len(data))
    for start, end in zip(data[:pairs, :2], reconstructions[:pairs, :2]):
        ax.plot([start[0], end[0]], [start[1], end[1]], color="0.6", linewidth=0.5)
    ax.scatter(data[:, 0], data[:, 1], s=3, c="0.45", edgecolors="none", label="data")
    ax.scatter(reconstructions[:, 0], reconstructions[:, 1], s=3, c=SAMPLE_COLOR, edgecolors="none",
               label="reconstruction (decoder mean)")
    set_square_axes(ax, box, *axis_labels(labels, 2))


def _draw_reconstructions_1d(ax: Any, data: np.ndarray, reconstructions: np.ndarray, label: str) -> None:
    """1-D data: each point against its reconstruction, over the diagonal a perfect
    autoencoder would put them on (a second coordinate of zeros would hide every error)."""
    lo, hi = robust_bounds(np.concatenate([data, reconstructions])[:, None])[:2]
    ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=0.8, label="x̂ = x")
    ax.scatter(data, reconstructions, s=3, c=SAMPLE_COLOR, edgecolors="none", label="(data, decoder mean)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(label)
    ax.set_ylabel(f"reconstruction of {label}")
    ax.grid(True, alpha=0.3)


def _two_columns(points: np.ndarray) -> np.ndarray:
    """The first two coordinates; a 1-D code is drawn against a zero second axis."""
    if points.shape[1] >= 2:
        return points[:, :2]
    return np.concatenate([points, np.zeros_like(points)], axis=1)
