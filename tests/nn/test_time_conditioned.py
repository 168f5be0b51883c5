"""The denoising MLP: random Fourier features of x enter its first layer, the time path shifts
(and optionally scales) every hidden layer, and the fast paths equal the network written out;
bad settings fail."""

from __future__ import annotations

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from pushforward.nn.time_conditioned import TimeConditionedMLP


def written_out(network: TimeConditionedMLP, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The network by hand from its weights and stored projection, the time path run per point."""
    angles = x @ network.space.projection.T
    h = torch.cat([x, angles.sin(), angles.cos()], dim=1)
    out = network.time(network.embedding(c))
    layers = network.hidden_layers
    if network.time_scale:
        shift, scale = out[:, : out.shape[1] // 2], out[:, out.shape[1] // 2 :]
    else:
        shift, scale = out, torch.zeros_like(out)
    for layer, bias, factor in zip([network.first, *network.hidden], shift.chunk(layers, dim=1), scale.chunk(layers, dim=1)):
        h = network.activations[0](layer(h) * (1 + factor) + bias)
    return network.last(h)


def perturbed(network: TimeConditionedMLP) -> TimeConditionedMLP:
    """The network with every weight moved, so the time scales (zero at initialisation) act."""
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return network


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
@pytest.mark.parametrize("time_scale", [False, True])
def test_runs_of_equal_times_give_the_per_point_values_and_gradients(levels, time_scale):
    # A batch on shared noise levels runs the time path once per run of equal times; the
    # values and every parameter's gradient must be those of the time path run per point.
    torch.manual_seed(0)
    network = perturbed(TimeConditionedMLP((2,), 16, 3, 8, space_features=4, time_scale=time_scale).double())
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
@pytest.mark.parametrize("time_scale", [False, True])
def test_in_place_inference_path_equals_the_autograd_path(activation, input_frequencies, time_scale):
    # Without autograd at_time runs the activations in place, (without octave features) the
    # first layer on x, sin θ and cos θ separately, and folds the time scales into the weight
    # rows; the values must not change.
    torch.manual_seed(0)
    network = TimeConditionedMLP((2,), 16, 3, 8, activation, input_frequencies, space_features=4, time_scale=time_scale)
    network = perturbed(network.double())
    x, c = torch.randn(9, 2, dtype=torch.float64), torch.tensor(-0.4, dtype=torch.float64)
    with torch.no_grad():
        fast = network.at_time(c)(x)
    torch.testing.assert_close(fast, network(x, c.expand(9)))


def test_time_scales_start_at_one():
    # Zero-initialised scale outputs: a fresh network with time scales computes exactly what
    # the shift-only network with the same other weights computes.
    torch.manual_seed(0)
    scaled = TimeConditionedMLP((2,), 16, 2, 8, space_features=4, time_scale=True).double()
    plain = TimeConditionedMLP((2,), 16, 2, 8, space_features=4).double()
    state = scaled.state_dict()
    rows = plain.time[-1].weight.shape[0]
    state["time.2.weight"], state["time.2.bias"] = state["time.2.weight"][:rows], state["time.2.bias"][:rows]
    plain.load_state_dict(state)
    x, c = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    torch.testing.assert_close(scaled(x, c), plain(x, c))


def perturbed_sampling_network(input_frequencies: int, time_scale: bool = True) -> TimeConditionedMLP:
    """A float64 network as samplers use it (SiLU, 4 Fourier projections), away from its
    initialisation; ``input_frequencies`` > 0 takes it off the points-as-columns path."""
    torch.manual_seed(0)
    network = TimeConditionedMLP((2,), 16, 3, 8, "silu", input_frequencies, space_features=4, time_scale=time_scale)
    return perturbed(network.double())


@pytest.mark.parametrize("input_frequencies", [0, 2])
@pytest.mark.parametrize("time_scale", [False, True])
@pytest.mark.parametrize("grad", [False, True])
def test_the_network_at_several_times_at_once_is_the_network_at_each(input_frequencies, time_scale, grad):
    # at_times runs the time path and folds the weights for all times in batched operations.
    network = perturbed_sampling_network(input_frequencies, time_scale)
    x, times = torch.randn(9, 2, dtype=torch.float64), torch.tensor([-0.7, 0.0, 0.4, 1.3], dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        at_times = network.at_times(times)
        assert len(at_times) == 4
        for at_time, c in zip(at_times, times):
            torch.testing.assert_close(at_time(x), network(x, c.expand(9)))
