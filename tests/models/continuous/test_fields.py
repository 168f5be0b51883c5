"""The MLP vector field: shapes, per-sample vs shared time, and the Fourier time features."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.continuous.divergence import divergence_exact
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


# Fields whose first layer sees x, its random Fourier features and t's Fourier features, so
# every part of the fold (x columns, time columns, bias) is exercised; and a one-layer field.
FOLD_SETTINGS = [
    {"activation": "tanh", "frequencies": 0, "space_features": 0},
    {"activation": "silu", "frequencies": 3, "space_features": 4},
    {"activation": "relu", "frequencies": 2, "space_features": 0},
    {"activation": "elu", "frequencies": 0, "space_features": 3, "hidden_layers": 1},
    {"activation": "gelu", "frequencies": 1, "space_features": 2},
]


def _field(settings: dict) -> MLPField:
    torch.manual_seed(0)
    options = {"hidden_features": 16, "hidden_layers": 3, **settings}
    return MLPField((3,), **options).double()


@pytest.mark.parametrize("settings", FOLD_SETTINGS)
@pytest.mark.parametrize("grad", [False, True])
def test_scalar_time_folded_into_the_bias_equals_the_time_column_path(settings, grad):
    field = _field(settings)
    x = torch.randn(7, 3, dtype=torch.float64)
    kept = x.clone()
    column = torch.full((7,), 0.3, dtype=torch.float64)  # the general path: t as a column
    with torch.set_grad_enabled(grad):
        reference = field(column, x)
        for t in (torch.tensor(0.3, dtype=torch.float64), 0.3):
            torch.testing.assert_close(field.at_time(t)(x), reference)
            torch.testing.assert_close(field(t, x), reference)
    assert torch.equal(x, kept)  # in-place activations never touch the caller's states
    assert not torch.allclose(field(0.7, x), reference)  # the folded bias does depend on t


@pytest.mark.parametrize("settings", FOLD_SETTINGS)
def test_folded_path_has_the_same_gradients_and_divergence_gradients(settings):
    # CNF training differentiates the exact divergence (a gradient of the field) with respect
    # to the parameters, so second derivatives through the fold must agree as well.
    field = _field(settings)
    x = torch.randn(6, 3, dtype=torch.float64)
    weights = torch.randn(6, 3, dtype=torch.float64)
    params = list(field.parameters())

    def gradients(t: torch.Tensor) -> list[torch.Tensor]:
        y = x.clone().requires_grad_(True)
        f = field(t, y)
        divergence, _ = divergence_exact(f, y, create_graph=True)
        return list(torch.autograd.grad((f * weights).sum() + divergence.square().sum(), [y, *params]))

    folded = gradients(torch.tensor(0.6, dtype=torch.float64))
    general = gradients(torch.full((6,), 0.6, dtype=torch.float64))
    assert any(g.abs().sum() > 0 for g in folded[1:])
    for a, b in zip(folded, general):
        torch.testing.assert_close(a, b)
