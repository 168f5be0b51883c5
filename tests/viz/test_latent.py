"""The latent-space figure of a VAE: writes an image for 2-D and 1-D codes."""

from __future__ import annotations

import numpy as np
import pytest

from pushforward.viz import plot_latent
from tests.conftest import keep_saved_figures


def test_plot_latent_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 2))
    path = plot_latent(data, rng.normal(size=(300, 2)), data + 0.1, tmp_path / "latent.png", prior_samples=rng.normal(size=(100, 2)), title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one_d = plot_latent(data, rng.normal(size=(300, 1)), data, tmp_path / "one.png")
    assert one_d.stat().st_size > 1000


def test_the_data_panel_is_labelled_with_the_column_names(tmp_path, monkeypatch: pytest.MonkeyPatch):
    import pushforward.viz.latent as module

    kept = keep_saved_figures(monkeypatch, module)
    data = np.random.default_rng(1).normal(size=(100, 2))
    plot_latent(data, data, data, tmp_path / "latent.png", labels=["height", "weight"])
    ax_latent, ax_data = kept[0].axes[:2]
    assert (ax_data.get_xlabel(), ax_data.get_ylabel()) == ("height", "weight")
    assert (ax_latent.get_xlabel(), ax_latent.get_ylabel()) == ("$z_1$", "$z_2$")  # codes have no column names


def test_1d_data_are_drawn_against_their_reconstructions(tmp_path, monkeypatch: pytest.MonkeyPatch):
    import pushforward.viz.latent as module

    kept = keep_saved_figures(monkeypatch, module)
    rng = np.random.default_rng(2)
    data = rng.lognormal(size=(200, 1))
    reconstructions = data * 0.9
    plot_latent(data, rng.normal(size=(200, 2)), reconstructions, tmp_path / "latent.png", labels=["income"])
    ax_data = kept[0].axes[1]
    assert (ax_data.get_xlabel(), ax_data.get_ylabel()) == ("income", "reconstruction of income")
    [pairs] = [c for c in ax_data.collections if len(c.get_offsets()) == 200]
    np.testing.assert_allclose(pairs.get_offsets(), np.concatenate([data, reconstructions], axis=1))
