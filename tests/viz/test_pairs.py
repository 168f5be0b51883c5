"""The pair plot of a table: every column's histogram, every pair's scatter and correlation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pushforward.viz.pairs as pairs
from pushforward.errors import UserError
from pushforward.viz.pairs import MAX_PAIR_COLUMNS, correlation, plot_pairs
from tests.conftest import keep_saved_figures
from tests.viz.test_viz_figures import assert_png


@pytest.fixture
def table() -> np.ndarray:
    rng = np.random.default_rng(1)
    a = rng.normal(size=4000)
    return np.stack([a, 3 * a + rng.normal(size=4000), rng.exponential(size=4000) * 100], axis=1)


@pytest.fixture
def drawn(monkeypatch):
    return keep_saved_figures(monkeypatch, pairs)


def test_correlation_matches_numpy_and_marks_a_constant_column(table: np.ndarray) -> None:
    assert correlation(table) == pytest.approx(np.corrcoef(table, rowvar=False), abs=1e-12)
    with np.errstate(invalid="ignore"):
        flat = correlation(np.stack([table[:, 0], np.ones(len(table))], axis=1))
    assert np.isnan(flat[0, 1]) and flat[0, 0] == pytest.approx(1.0)


def test_the_grid_shows_each_column_on_its_own_axis_and_the_correlations_of_both(tmp_path: Path, table, drawn) -> None:
    samples = table[::-1].copy()
    samples[:, 1] = np.random.default_rng(2).normal(size=len(samples))  # the samples lose column b's dependence
    out = plot_pairs(table, samples, out=tmp_path / "pairs.png", labels=["a", "b", "c"], title="t")
    assert_png(out)
    figure = drawn[-1]
    axes = np.array(figure.axes).reshape(3, 3)
    # Column c (spread ~100) keeps its own range in its column of panels and its row.
    assert axes[2, 2].get_xlim()[1] > 200 and axes[2, 0].get_ylim()[1] > 200 and axes[0, 0].get_xlim()[1] < 10
    assert [axes[2, j].get_xlabel() for j in range(3)] == ["a", "b", "c"]
    text = axes[0, 1].texts[0].get_text()
    data_r = np.corrcoef(table[:, 0], table[:, 1])[0, 1]
    sample_r = np.corrcoef(samples[:, 0], samples[:, 1])[0, 1]
    assert f"{data_r:+.2f}" in text and f"{sample_r:+.2f}" in text and data_r > 0.9 > abs(sample_r) + 0.8
    assert "4,000 rows" in figure.get_suptitle()


def test_non_finite_samples_are_counted_and_bad_shapes_refused(tmp_path: Path, table, drawn) -> None:
    samples = table.copy()
    samples[:7, 1] = np.nan
    plot_pairs(table, samples, out=tmp_path / "p.png")
    assert "7 non-finite left out" in drawn[-1].get_suptitle()
    with pytest.raises(UserError, match="data have 3 columns but samples have 2"):
        plot_pairs(table, table[:, :2], out=tmp_path / "q.png")
    wide = np.zeros((10, MAX_PAIR_COLUMNS + 1))
    with pytest.raises(UserError, match=f"2 to {MAX_PAIR_COLUMNS} columns"):
        plot_pairs(wide, wide, out=tmp_path / "r.png")
    assert not (tmp_path / "q.png").exists() and not (tmp_path / "r.png").exists()
