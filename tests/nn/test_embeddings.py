"""The sinusoidal embedding: shape, its values, and that distinct times get distinct features."""

from __future__ import annotations

import torch

from pushforward.nn.embeddings import SinusoidalEmbedding, sinusoidal_embedding


def test_sinusoidal_embedding_values():
    t = torch.tensor([0.0, 0.25], dtype=torch.float64)
    features = sinusoidal_embedding(t, 6, max_period=100.0, scale=2.0)
    frequencies = 100.0 ** (-torch.arange(3, dtype=torch.float64) / 3)
    expected = torch.cat([torch.sin(2.0 * t[:, None] * frequencies), torch.cos(2.0 * t[:, None] * frequencies)], dim=1)
    torch.testing.assert_close(features, expected)
    assert features[0, :3].abs().max() == 0 and (features[0, 3:] == 1).all()


def test_odd_width_and_module_form():
    module = SinusoidalEmbedding(7)
    out = module(torch.linspace(0, 1, 5))
    assert out.shape == (5, 7) and (out[:, -1] == 0).all()
    # A 0-d time (one for the whole batch) gives one row.
    assert module(torch.tensor(0.3)).shape == (1, 7)
    assert torch.cdist(out, out).fill_diagonal_(1.0).min() > 1e-3
