"""A table's columns drawn in pairs: the data and a model's samples, column by column.

For data of more than two columns no single picture is the model's density, so what a user of
synthetic tables checks is what this figure shows (the "pair plot" of Emerson et al., "The
Generalized Pairs Plot", J. Comput. Graph. Stat. 2013, as corner plots draw it):

* on the diagonal, each column's distribution: a histogram of the data with the samples' on top,
  on the same bins, so a wrong spread, a missing mode or a shifted mean shows at once;
* below it, every pair of columns as a scatter of data (grey) and samples (red) on the data's
  axes, which shows the dependence between columns;
* above it, the same pair's Pearson correlation in the data and in the samples, the number a
  scatter only suggests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pushforward.errors import UserError
from pushforward.viz._common import SAMPLE_COLOR, axis_labels, new_figure, robust_bounds, save_figure

DATA_COLOR = "#4d4d4d"
# Dots per scatter panel for each of data and samples: enough to show a pair's shape, few
# enough that the later dots do not bury the earlier ones.
SCATTER_POINTS = 1500
MARGINAL_BINS = 40
# Past this many columns the panels get too small to read; the caller chooses which to draw.
MAX_PAIR_COLUMNS = 8


def column_range(values: np.ndarray) -> tuple[float, float]:
    """A column's axis limits: the bulk of its finite values with a margin (see :func:`robust_bounds`)."""
    low, high, _, _ = robust_bounds(values.reshape(-1, 1))
    return low, high


def correlation(values: np.ndarray) -> np.ndarray:
    """Pearson correlations between the columns of ``values`` ``(n, d)``; NaN where a column is constant."""
    centred = values - values.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (centred.T @ centred) / np.outer(scale, scale)


def _finite_rows(array: np.ndarray, what: str, columns: int | None) -> np.ndarray:
    rows = np.asarray(array, dtype=np.float64)
    rows = rows.reshape(len(rows), -1)
    if columns is not None and rows.shape[1] != columns:
        raise UserError(f"data have {columns} columns but {what} have {rows.shape[1]}", f"pass {what} in the data's columns")
    return rows[np.isfinite(rows).all(axis=1)]


def plot_pairs(
    data: np.ndarray,
    samples: np.ndarray,
    *,
    out: str | os.PathLike[str],
    labels: Sequence[str] | None = None,
    title: str = "",
    shown: str | None = None,
    seed: int = 0,
) -> Path:
    """Every column of ``data`` and ``samples`` ``(n, d)`` and every pair of them in one grid.

    Args:
        data: training rows, ``(n, d)`` with ``2 <= d <= MAX_PAIR_COLUMNS``.
        samples: the model's rows in the same columns and units.
        out: image file to write, replaced atomically.
        labels: the columns' names (default x₁, x₂, ...).
        title: the figure's title; ``shown`` (e.g. "columns a, b, c of 12") is added to it.
        seed: which rows the scatters show, when there are more than ``SCATTER_POINTS``.

    Returns:
        the path written.
    """
    data = _finite_rows(data, "data", None)
    d = data.shape[1]
    if not 2 <= d <= MAX_PAIR_COLUMNS:
        raise UserError(f"a pair plot draws 2 to {MAX_PAIR_COLUMNS} columns, not {d}", "choose the columns to draw")
    if len(data) == 0:
        raise UserError("the data have no finite rows", "check the data file for NaN or inf values")
    total = len(np.asarray(samples).reshape(len(samples), -1))
    samples = _finite_rows(samples, "samples", d)
    left_out = total - len(samples)
    names = axis_labels(labels, d)
    ranges = [column_range(data[:, i]) for i in range(d)]
    generator = np.random.default_rng(seed)
    data_dots = data[generator.permutation(len(data))[:SCATTER_POINTS]]
    sample_dots = samples[generator.permutation(len(samples))[:SCATTER_POINTS]]
    data_r, sample_r = correlation(data), correlation(samples) if len(samples) > 1 else np.full((d, d), np.nan)

    size = min(2.2, 13.0 / d)
    figure = new_figure(size * d + 0.6, size * d + 0.6)
    axes = figure.subplots(d, d, squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i][j]
            if i == j:
                edges = np.linspace(*ranges[i], MARGINAL_BINS + 1)
                ax.hist(data[:, i], bins=edges, density=True, color=DATA_COLOR, alpha=0.35, label="data")
                if len(samples):
                    ax.hist(samples[:, i], bins=edges, density=True, histtype="step", color=SAMPLE_COLOR, linewidth=1.2,
                            label="samples")
                ax.set_xlim(*ranges[i])
                ax.set_yticks([])
            elif i > j:
                ax.scatter(data_dots[:, j], data_dots[:, i], s=2, c=DATA_COLOR, alpha=0.35, linewidths=0, rasterized=True)
                ax.scatter(sample_dots[:, j], sample_dots[:, i], s=2, c=SAMPLE_COLOR, alpha=0.35, linewidths=0, rasterized=True)
                ax.set_xlim(*ranges[j])
                ax.set_ylim(*ranges[i])
            else:
                ax.text(0.5, 0.5, f"r data {_shown(data_r[i, j])}\nsamples {_shown(sample_r[i, j])}", ha="center",
                        va="center", transform=ax.transAxes, fontsize="small")
                ax.set_xticks([])
                ax.set_yticks([])
            # Names along the outer edges only, like a table's header and index.
            if i == d - 1:
                ax.set_xlabel(names[j])
            elif i >= j:
                ax.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
            elif i > j:
                ax.tick_params(labelleft=False)
    axes[0][0].set_ylabel(names[0])
    axes[0][0].legend(loc="upper right", fontsize="x-small", framealpha=0.8)
    caption = f"data ({len(data):,} rows, grey) and samples ({len(samples):,}, red)"
    if left_out:
        caption += f", {left_out} non-finite left out"
    parts = [part for part in (title, shown) if part]
    figure.suptitle(" — ".join(parts) + ("\n" if parts else "") + caption)
    return save_figure(figure, out)


def _shown(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:+.2f}"
