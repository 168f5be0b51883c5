"""The MLP vector field: shapes, per-sample vs shared time, and the Fourier time features."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.continuous.divergence import divergence_exact
from pushforward.models.base import create
from pushforward.models.continuous.fields import MLPField, RowChunkedField, SharedAtTime, VPredictionField, mlp_field
from pushforward.models.continuous.solvers import ODESolver, integrate_with_log_density, standard_normal_log_prob


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


# -- the v-parameterised field of flow matching ----------------------------------------------


def _v_field(**settings) -> VPredictionField:
    torch.manual_seed(0)
    return VPredictionField((2,), **{"hidden_features": 16, "hidden_layers": 2, "space_features": 4, **settings}).double()


def test_v_coefficients_turn_the_path_v_into_its_velocity():
    # For any pair (x0, x1) and t: a x_t − b v = x1 − x0 with v = (t x0 − (1 − t) x1)/s.
    generator = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(2, 100, 2, generator=generator, dtype=torch.float64)
    t = torch.rand(100, 1, generator=generator, dtype=torch.float64)
    s = (t.square() + (1 - t).square()).sqrt()
    a, b = VPredictionField.path_coefficients(t)
    v = (t * x0 - (1 - t) * x1) / s
    torch.testing.assert_close(a * (t * x1 + (1 - t) * x0) - b * v, x1 - x0)


def test_v_field_noise_level_is_the_clamped_log_snr():
    field = _v_field(logit_min=-2.0, logit_max=5.0)
    t = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.99, 1.0], dtype=torch.float64)
    expected = 0.25 * torch.tensor([-2.0, -2.0, math.log(0.3 / 0.7), 0.0, math.log(99.0), 5.0], dtype=torch.float64)
    torch.testing.assert_close(field.noise_level(t), expected)  # λ/8 with λ = 2 logit(t)


@pytest.mark.parametrize("grad", [False, True])
def test_v_field_shared_time_equals_per_sample_time(grad):
    field = _v_field()
    x = torch.randn(7, 2, dtype=torch.float64)
    for time in (0.0, 0.3, 0.999, 1.0):
        with torch.set_grad_enabled(grad):
            shared = field(torch.tensor(time, dtype=torch.float64), x.clone())
            per_sample = field(torch.full((7,), time, dtype=torch.float64), x)
        torch.testing.assert_close(shared, per_sample)


def test_a_v_field_predicting_zero_keeps_a_standard_gaussian():
    # With v_θ = 0 the field is (2t − 1)/s² x, the exact marginal velocity of the straight path
    # from N(0, I) to N(0, I) (E[v | x_t] = 0 there): the flow's density stays N(0, I).
    field = _v_field()
    with torch.no_grad():
        field.network.last.weight.zero_()
        field.network.last.bias.zero_()
    x = torch.randn(50, 2, dtype=torch.float64)
    result = integrate_with_log_density(field, x, 1.0, 0.0, ODESolver("dopri5", rtol=1e-9, atol=1e-9), divergence="exact")
    torch.testing.assert_close(standard_normal_log_prob(result.y) - result.delta_log_p, standard_normal_log_prob(x), atol=1e-6, rtol=0)


def test_v_field_reloads_from_the_state_dict():
    field, other = _v_field(), _v_field()
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.1)
    other.load_state_dict(field.state_dict())
    x, t = torch.randn(9, 2, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
    torch.testing.assert_close(other(t, x), field(t, x))


@pytest.mark.parametrize("name", ["cnf", "otflow", "rectified"])
def test_a_row_chunked_field_equals_the_field_and_forms_its_time_path_once(name):
    torch.manual_seed(0)
    field = create(name, (2,)).double().field
    with torch.no_grad():  # away from any zero initialisation, so the field is not trivial
        for parameter in field.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = torch.randn(23, 2, dtype=torch.float64)
    calls = []
    chunked = RowChunkedField(field, 5)
    at_time = field.at_time
    field.at_time = lambda t: calls.append(t) or at_time(t)
    with torch.no_grad():
        torch.testing.assert_close(chunked(torch.tensor(0.3, dtype=torch.float64), x), field(torch.tensor(0.3, dtype=torch.float64), x))
    assert len(calls) == 2  # once for the 5 pieces, once for the whole batch
    with pytest.raises(ValueError):
        RowChunkedField(field, 0)


def test_a_shared_field_forms_each_times_weights_once_for_all_its_threads():
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(0)
    field = create("rectified", (2,)).double().field
    with torch.no_grad():
        for parameter in field.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    calls = []
    at_time = field.at_time
    field.at_time = lambda t: calls.append(float(t)) or at_time(t)
    shared = SharedAtTime(field)
    times = [torch.tensor(value, dtype=torch.float64) for value in (0.1, 0.5, 0.9)]
    blocks = [torch.randn(7, 2, dtype=torch.float64) for _ in range(4)]
    with torch.no_grad():
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda x: [shared(t, x) for t in times], blocks))
        for x, values in zip(blocks, got):
            for t, value in zip(times, values):
                torch.testing.assert_close(value, at_time(t)(x))
    assert sorted(calls) == [0.1, 0.5, 0.9]  # once per time, whichever thread came first
    per_point = torch.full((7,), 0.5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(shared(per_point, blocks[0]), field(per_point, blocks[0]))
