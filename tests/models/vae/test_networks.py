"""Encoder and decoder MLPs: with Fourier features they are the plain MLP on [input, sin, cos]."""

from __future__ import annotations

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from pushforward.models.vae.networks import mlp_decoder, mlp_encoder


def reference_features(module, values: torch.Tensor) -> torch.Tensor:
    """[v, sin(B v), cos(B v)] computed from the stored projection B (2π·scale already folded in)."""
    angles = values @ module.features.projection.T
    return torch.cat([values, torch.sin(angles), torch.cos(angles)], dim=1)


@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_fourier_features_feed_the_mlp(side):
    torch.manual_seed(0)
    if side == "encoder":
        module = mlp_encoder(16, 2, "silu", fourier_features=5, fourier_scale=0.7)((2,), 6).double()
        values = torch.randn(9, 2, dtype=torch.float64)
    else:
        module = mlp_decoder(16, 2, "silu", fourier_features=5, fourier_scale=0.7)(3, (4,)).double()
        values = torch.randn(9, 3, dtype=torch.float64)
    expected = module.net(reference_features(module, values))
    torch.testing.assert_close(module(values).reshape(9, -1), expected)
    assert module.net[0].in_features == values.shape[1] + 2 * 5


def test_projection_is_saved_with_the_model():
    model = create("vae", (2,), hidden_features=8, hidden_layers=1, decoder_features=4, encoder_features=3)
    state = model.state_dict()
    assert state["decoder.features.projection"].shape == (4, 2)
    assert state["encoder.features.projection"].shape == (3, 2)
    # The projection is a persistent buffer: loading restores it rather than keeping a fresh one.
    other = create("vae", (2,), hidden_features=8, hidden_layers=1, decoder_features=4, encoder_features=3)
    other.decoder.features.projection.mul_(2.0)
    other.load_state_dict(state)
    torch.testing.assert_close(other.decoder.features.projection, model.decoder.features.projection)


@pytest.mark.parametrize(
    "settings", [{"decoder_features": -1}, {"encoder_features": -1}, {"decoder_scale": 0.0}, {"encoder_scale": -1.0}]
)
def test_bad_fourier_settings_are_user_errors(settings):
    with pytest.raises(UserError):
        create("vae", (2,), **settings)
