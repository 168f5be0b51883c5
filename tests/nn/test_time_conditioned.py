"""The denoising MLP: random Fourier features of x enter its first layer; bad settings fail."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pushforward.errors import UserError
from pushforward.models.base import create
from pushforward.nn.time_conditioned import TimeConditionedMLP


def written_out(network: TimeConditionedMLP, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The network by hand from its weights and stored projection, the time path run per point."""
    angles = x @ network.space.projection.T
    h = torch.cat([x, angles.sin(), angles.cos()], dim=1)
    biases = network.time(network.embedding(c)).chunk(network.hidden_layers, dim=1)
    for layer, bias in zip([network.first, *network.hidden], biases):
        h = F.silu(layer(h) + bias)
    return network.last(h)


def test_first_layer_sees_x_and_its_random_fourier_features():
    torch.manual_seed(0)
    network = TimeConditionedMLP((2,), 16, 2, 8, space_features=6, space_scale=0.5).double()
    x, c = torch.randn(7, 2, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    torch.testing.assert_close(network(x, c), written_out(network, x, c))
    assert network.first.in_features == 2 + 2 * 6


def test_shared_time_path_equals_per_point_times_with_fourier_features():
    torch.manual_seed(0)
    network = TimeConditionedMLP((2,), 16, 2, 8, space_features=6).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    c = torch.tensor(0.3, dtype=torch.float64)
    torch.testing.assert_close(network(x, c), written_out(network, x, c.expand(5)))


@pytest.mark.parametrize(
    "levels",
    [
        [0.3, 0.3, 0.3, -1.2, -1.2, -1.2, 2.0, 2.0, 2.0],  # equal runs
        [0.3, 0.3, -1.2, -1.2, -1.2, -1.2, 2.0, 0.3, 0.3],  # unequal runs, a level recurring
    ],
)
def test_runs_of_equal_times_give_the_per_point_values_and_gradients(levels):
    # A batch on shared noise levels runs the time path once per run of equal times; the
    # values and every parameter's gradient must be those of the time path run per point.
    torch.manual_seed(0)
    network = TimeConditionedMLP((2,), 16, 3, 8, space_features=4).double()
    c = torch.tensor(levels, dtype=torch.float64)
    x, weights = torch.randn(len(levels), 2, dtype=torch.float64), torch.randn(len(levels), 2, dtype=torch.float64)
    fast = network(x, c)
    fast_gradients = torch.autograd.grad((fast * weights).sum(), list(network.parameters()))
    slow = written_out(network, x, c)
    slow_gradients = torch.autograd.grad((slow * weights).sum(), list(network.parameters()))
    torch.testing.assert_close(fast, slow)
    for fast_gradient, slow_gradient in zip(fast_gradients, slow_gradients):
        torch.testing.assert_close(fast_gradient, slow_gradient)


@pytest.mark.parametrize("settings", [{"space_features": -1}, {"space_scale": 0.0}, {"space_scale": float("inf")}])
def test_bad_fourier_settings_are_user_errors(settings):
    with pytest.raises(UserError):
        create("ddpm", (2,), **settings)


@pytest.mark.parametrize("activation", ["silu", "relu", "tanh", "elu", "gelu"])
@pytest.mark.parametrize("input_frequencies", [0, 2])
def test_in_place_inference_path_equals_the_autograd_path(activation, input_frequencies):
    # Without autograd at_time runs the activations in place and (without octave features)
    # the first layer on x, sin θ and cos θ separately; the values must not change.
    torch.manual_seed(0)
    network = TimeConditionedMLP((2,), 16, 3, 8, activation, input_frequencies, space_features=4).double()
    x, c = torch.randn(9, 2, dtype=torch.float64), torch.tensor(-0.4, dtype=torch.float64)
    with torch.no_grad():
        fast = network.at_time(c)(x)
    torch.testing.assert_close(fast, network(x, c.expand(9)))
