"""Trajectory figures and density animations from plain arrays and a log-density callable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from pushforward.errors import UserError
from pushforward.viz.trajectories import animate_density, plot_trajectories
from tests.conftest import keep_saved_figures


def test_trajectories_png_from_paths(tmp_path):
    times = np.linspace(0, 1, 11)[:, None, None]
    start = np.random.default_rng(0).normal(size=(1, 50, 2))
    paths = start * (1 + times)  # points moving outwards
    paths[3, 0, 0] = np.nan  # a broken path is left out, not drawn
    out = plot_trajectories(paths, tmp_path / "paths.png", data=np.zeros((10, 2)), title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UserError, match="cannot be drawn"):
        plot_trajectories(paths[:1], tmp_path / "bad.png")


def test_animation_has_one_frame_per_time_and_only_writes_gifs(tmp_path):
    def log_prob_at(x: torch.Tensor, t: float) -> torch.Tensor:
        scale = 1 + t  # a Gaussian widening over time
        return -0.5 * (x / scale).pow(2).sum(1) - 2 * math.log(scale) - math.log(2 * math.pi)

    out = animate_density(log_prob_at, [0.0, 0.5, 1.0], tmp_path / "a.gif", bounds=(-3, 3, -3, 3), resolution=20)
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
    with pytest.raises(UserError, match=r"\.gif"):
        animate_density(log_prob_at, [0.0, 1.0], tmp_path / "a.mp4", bounds=(-3, 3, -3, 3))
    assert not (tmp_path / "a.mp4").exists()


def test_the_animations_axes_stay_in_place_from_frame_to_frame(tmp_path):
    def log_prob_at(x: torch.Tensor, t: float) -> torch.Tensor:
        return -0.5 * (x / (1 + t)).pow(2).sum(1)

    out = animate_density(log_prob_at, [0.0, 0.25, 0.5, 0.75, 1.0], tmp_path / "a.gif", bounds=(-3, 3, -3, 3),
                          resolution=12, title="a longer title", labels=["height", "weight"])
    frames = []
    with Image.open(out) as gif:
        for index in range(gif.n_frames):
            gif.seek(index)
            dark = np.asarray(gif.convert("RGB")).astype(int).sum(axis=2) < 100
            # The axes' frame: the columns and rows that are dark for most of their length.
            frames.append((tuple(np.flatnonzero(dark.mean(axis=0) > 0.5)), tuple(np.flatnonzero(dark.mean(axis=1) > 0.5))))
    assert len(frames) == 5 and all(len(columns) == 2 and len(rows) == 2 for columns, rows in frames)
    assert len(set(frames)) == 1, frames  # laid out once: the picture does not jump


def test_paths_and_animation_frames_are_labelled_with_the_column_names(tmp_path, monkeypatch):
    import pushforward.viz.trajectories as module

    kept = keep_saved_figures(monkeypatch, module)
    paths = np.random.default_rng(1).normal(size=(3, 20, 2))
    plot_trajectories(paths, tmp_path / "paths.png", labels=["height", "weight"])
    plot_trajectories(paths, tmp_path / "numbered.png")
    assert [(f.axes[0].get_xlabel(), f.axes[0].get_ylabel()) for f in kept] == [("height", "weight"), ("$x_{1}$", "$x_{2}$")]

    frames = []
    real_new_figure = module.new_figure
    monkeypatch.setattr(module, "new_figure", lambda *a, **k: frames.append(real_new_figure(*a, **k)) or frames[-1])
    animate_density(lambda x, t: -0.5 * x.pow(2).sum(1), [0.0, 1.0], tmp_path / "a.gif", bounds=(-2, 2, -2, 2),
                    resolution=8, labels=["height", "weight"])
    assert (frames[0].axes[0].get_xlabel(), frames[0].axes[0].get_ylabel()) == ("height", "weight")
