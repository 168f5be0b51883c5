"""The MLP vector field: shapes, per-sample vs shared time, and the Fourier time features."""

from __future__ import annotations

import torch

from pushforward.models.continuous.fields import MLPField, mlp_field


def test_field_keeps_the_event_shape_and_accepts_scalar_or_per_sample_time():
    torch.manual_seed(0)
    for shape in ((2,), (3, 2, 2)):
        field = MLPField(shape, hidden_features=8, hidden_layers=2, frequencies=3)
        x = torch.randn(5, *shape)
        shared = field(torch.tensor(0.25), x)
        per_sample = field(torch.full((5,), 0.25), x)
        assert shared.shape == x.shape
        torch.testing.assert_close(shared, per_sample)
        assert not torch.allclose(field(torch.tensor(0.75), x), shared)  # time matters


def test_factory_builds_fresh_fields_and_double_precision_works():
    factory = mlp_field(hidden_features=4, hidden_layers=1, activation="silu", frequencies=2)
    a, b = factory((2,)), factory((2,))
    assert a is not b and a.event_shape == (2,)
    out = a.double()(torch.tensor(0.5, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_space_features_keep_the_interface_and_reload_from_the_state_dict():
    torch.manual_seed(0)
    field = MLPField((2,), hidden_features=8, hidden_layers=2, space_features=6, space_scale=0.5)
    x = torch.randn(5, 2)
    assert field(torch.tensor(0.5), x).shape == x.shape
    other = MLPField((2,), hidden_features=8, hidden_layers=2, space_features=6, space_scale=0.5)
    other.load_state_dict(field.state_dict())
    torch.testing.assert_close(other(torch.tensor(0.5), x), field(torch.tensor(0.5), x))
