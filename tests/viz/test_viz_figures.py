"""The figures are real images, written atomically: a failed save leaves the old file alone."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from pushforward.errors import NotTractable, UserError
from pushforward.viz import plot_density, plot_history, plot_model
from pushforward.viz.model_figure import plot_samples

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000  # an empty canvas of this size compresses to far less
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"


def gaussian_log_prob(points: torch.Tensor) -> torch.Tensor:
    return -0.5 * (points**2).sum(dim=1) - math.log(2 * math.pi)


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(2000, 2))


def test_plot_model_with_a_density(tmp_path: Path, data: np.ndarray) -> None:
    out = plot_model(data, samples=data[::-1] * 1.1, log_prob=gaussian_log_prob, title="flow", out=tmp_path / "model.png")
    assert out == tmp_path / "model.png"
    assert_png(out)


def test_plot_model_without_a_likelihood(tmp_path: Path, data: np.ndarray) -> None:
    def intractable(points: torch.Tensor) -> torch.Tensor:
        raise NotTractable("a GAN has no likelihood", "use sample-based metrics")

    assert_png(plot_model(data, samples=data, log_prob=None, title="gan", out=tmp_path / "a.png"))
    assert_png(plot_model(data, samples=data, log_prob=intractable, title="gan", out=tmp_path / "b.png"))


def test_plot_model_in_more_and_fewer_dimensions(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    wide = rng.normal(size=(500, 5))
    samples = np.vstack([wide[:400], np.full((3, 5), np.nan)])  # a diverged model's NaN rows are left out
    assert_png(plot_model(wide, samples=samples, log_prob=gaussian_log_prob, out=tmp_path / "wide.png"))
    narrow = rng.normal(size=(500, 1))
    assert_png(plot_model(narrow, samples=narrow, log_prob=lambda t: -0.5 * t[:, 0] ** 2, out=tmp_path / "narrow.png"))
    with pytest.raises(UserError, match="coordinates"):
        plot_model(wide, samples=narrow, out=tmp_path / "bad.png")


def test_plot_samples(tmp_path: Path, data: np.ndarray) -> None:
    assert_png(plot_samples(data, data + 0.1, tmp_path / "samples.png", title="overlay"))


def test_plot_density_writes_its_figure(tmp_path: Path) -> None:
    result = plot_density("(z1, z2 + z1**2)", n=1500, kde_points=400, resolution=30, out=tmp_path / "explore.png")
    assert result.figure_path == tmp_path / "explore.png"
    assert_png(tmp_path / "explore.png")
    assert plot_density("2*z", n=200, kde_points=200, resolution=20).figure_path is None


def test_plot_history_from_a_csv_file(tmp_path: Path) -> None:
    rows = []
    for step in range(0, 300, 3):
        row = {"step": step, "time": step * 0.1, "lr": 1e-3, "loss": math.exp(-step / 100) + 0.01 * (step % 7)}
        row["val_nll"] = 2 - step / 300 if step % 30 == 0 else ""
        rows.append(row)
    with open(tmp_path / "history.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(tmp_path / "history.csv", newline="") as stream:
        read_back = list(csv.DictReader(stream))  # every value is a string now
    assert_png(plot_history(read_back, tmp_path / "history.png", title="training"))

    gan = [{"step": s, "loss_critic": -1.0 + 0.1 * s, "loss_generator": 0.5 - 0.01 * s} for s in range(20)]
    assert_png(plot_history(gan, tmp_path / "gan.png"))


def test_plot_history_needs_something_to_draw(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="empty"):
        plot_history([], tmp_path / "h.png")
    with pytest.raises(UserError, match="no numeric column"):
        plot_history([{"step": 1, "time": 0.5, "lr": 1e-3, "note": "warm-up"}], tmp_path / "h.png")
    with pytest.raises(UserError, match="no column 'val_nll'"):
        plot_history([{"step": 1, "loss": 2.0}], tmp_path / "h.png", columns=["val_nll"])
    assert not (tmp_path / "h.png").exists()


def test_a_failed_save_leaves_the_existing_file_intact(tmp_path: Path, data: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "model.png"
    out.write_bytes(b"the previous figure")
    original = Figure.savefig

    def crash_midway(self: Figure, fname: object, *args: object, **kwargs: object) -> None:
        Path(str(fname)).write_bytes(PNG_SIGNATURE + b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        plot_model(data, samples=data, log_prob=gaussian_log_prob, out=out)
    assert out.read_bytes() == b"the previous figure"
    assert list(tmp_path.iterdir()) == [out]

    monkeypatch.setattr(Figure, "savefig", original)
    plot_model(data, samples=data, log_prob=gaussian_log_prob, out=out)
    assert_png(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.png"]


def test_the_format_follows_the_suffix(tmp_path: Path, data: np.ndarray) -> None:
    svg = plot_model(data, samples=data, out=tmp_path / "model.svg")
    assert svg.read_text().lstrip().startswith("<?xml")
    with pytest.raises(UserError, match="format"):
        plot_model(data, samples=data, out=tmp_path / "model.xyz")
    assert not list(tmp_path.glob("model.xyz*")) and not list(tmp_path.glob(".*.tmp"))


def test_plot_history_of_a_wasserstein_gan_has_a_distance_panel(tmp_path: Path, monkeypatch) -> None:
    import pushforward.viz.model_figure as module

    drawn = {}
    real_save = module.save_figure

    def capture(figure, out):
        drawn["panels"] = {ax.get_title(): [line.get_label() for line in ax.get_lines()] for ax in figure.axes}
        return real_save(figure, out)

    monkeypatch.setattr(module, "save_figure", capture)
    rows = [{"step": s, "loss": 0.3, "critic_loss": -1.0 + 0.1 * s, "critic_distance": 1.0 - 0.05 * s,
             "generator_loss": 0.5, "val_energy": 0.1} for s in range(20)]
    assert_png(plot_history(rows, tmp_path / "wgan.png"))
    panels = drawn["panels"]
    assert set(panels) == {"training", "critic's distance estimate", "validation"}
    assert panels["critic's distance estimate"] == ["critic_distance"]
    assert "loss" not in panels["training"] and "critic_loss" in panels["training"]


# -- 1-D data and axis labels ------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The figure plot_model saves, kept for inspection."""
    import pushforward.viz.model_figure as module

    kept: dict = {}
    real_save = module.save_figure

    def capture(figure, out):
        kept["figure"] = figure
        return real_save(figure, out)

    monkeypatch.setattr(module, "save_figure", capture)
    return kept


def curves(figure: Figure) -> list:
    return [line for ax in figure.axes for line in ax.get_lines() if line.get_label().startswith("$p_\\theta(x)$")]


def test_1d_data_get_the_density_curve_over_both_histograms(tmp_path: Path, drawn: dict) -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(1.0, 2.0, size=(3000, 1))

    def log_prob(points: torch.Tensor) -> torch.Tensor:  # N(1, 2²), the data's law
        return -0.5 * ((points[:, 0] - 1) / 2) ** 2 - math.log(2 * math.sqrt(2 * math.pi))

    assert_png(plot_model(data, samples=data[::-1], log_prob=log_prob, labels=["income"], out=tmp_path / "one.png"))
    figure = drawn["figure"]
    lines = curves(figure)
    assert len(lines) == 2  # over the data's histogram and over the samples'
    xs, density = (np.asarray(v, dtype=np.float64) for v in lines[0].get_data())
    lo, hi = figure.axes[0].get_xlim()
    assert (xs[0], xs[-1]) == pytest.approx((lo, hi))
    # The curve is the density: on its grid it integrates to the N(1, 4) mass of the axis, ~1.
    phi = lambda v: 0.5 * (1 + math.erf((v - 1) / (2 * math.sqrt(2))))  # noqa: E731
    assert np.trapezoid(density, xs) == pytest.approx(phi(hi) - phi(lo), abs=1e-4)
    assert np.trapezoid(density, xs) == pytest.approx(1.0, abs=0.02)
    assert f"mass {np.trapezoid(density, xs):.3f}" in lines[0].get_label()
    assert [ax.get_xlabel() for ax in figure.axes] == ["income", "income"]
    # Bars and curve share units: the histogram of the data is a density too.
    heights = np.array([patch.get_height() for patch in figure.axes[0].patches])
    widths = np.array([patch.get_width() for patch in figure.axes[0].patches])
    assert (heights * widths).sum() == pytest.approx(1.0, abs=0.02)


def test_1d_data_without_a_likelihood_get_no_curve(tmp_path: Path, drawn: dict) -> None:
    def intractable(points: torch.Tensor) -> torch.Tensor:
        raise NotTractable("a GAN has no likelihood", "use sample-based metrics")

    data = np.random.default_rng(3).normal(size=(500, 1))
    for log_prob in (None, intractable):
        plot_model(data, samples=data, log_prob=log_prob, out=tmp_path / "gan.png")
        assert curves(drawn["figure"]) == []
        assert [ax.get_xlabel() for ax in drawn["figure"].axes] == ["$x_{1}$", "$x_{1}$"]


def test_2d_and_wider_data_are_labelled_with_their_column_names(tmp_path: Path, data: np.ndarray, drawn: dict) -> None:
    plot_model(data, samples=data, log_prob=gaussian_log_prob, labels=["height", "weight"], out=tmp_path / "two.png")
    panels = [ax for ax in drawn["figure"].axes if ax.get_label() != "<colorbar>"]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("height", "weight")] * 2
    wide = np.random.default_rng(4).normal(size=(300, 3))
    plot_model(wide, samples=wide, labels=["a", "b", "c"], out=tmp_path / "wide.png")
    panels = [ax for ax in drawn["figure"].axes if ax.get_label() != "<colorbar>"]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("a", "b")] * 2
    plot_model(data, samples=data, out=tmp_path / "unnamed.png")
    panels = [ax for ax in drawn["figure"].axes if ax.get_label() != "<colorbar>"]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("$x_{1}$", "$x_{2}$")] * 2
