"""The latent-space figure of a VAE: writes an image for 2-D and 1-D codes."""

from __future__ import annotations

import numpy as np

from pushforward.viz import plot_latent


def test_plot_latent_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 2))
    path = plot_latent(data, rng.normal(size=(300, 2)), data + 0.1, tmp_path / "latent.png", prior_samples=rng.normal(size=(100, 2)), title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one_d = plot_latent(data, rng.normal(size=(300, 1)), data, tmp_path / "one.png")
    assert one_d.stat().st_size > 1000
