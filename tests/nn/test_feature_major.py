"""The points-as-columns inference MLP computes what the same layers compute on rows."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pushforward.nn.feature_major import FeatureMajorMLP, affine_steps_, first_layer_matrix, with_bias_column


def layers_on_rows(x, projection, first, hidden, last, activations):
    """The written-out network: features [x, sin Bx, cos Bx], then σ(h Wᵀ + b) per layer."""
    angles = x @ projection.T
    h = torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)
    for (weight, bias), activation in zip([first, *hidden], activations):
        h = activation(h @ weight.T + bias)
    return h @ last[0].T + last[1]


def random_network(dimension, waves, width, hidden_layers, outputs, activation):
    generator = torch.Generator().manual_seed(0)

    def layer(out_features, in_features):
        weight = torch.randn(out_features, in_features, generator=generator, dtype=torch.float64) / in_features**0.5
        return weight, torch.randn(out_features, generator=generator, dtype=torch.float64)

    projection = 3 * torch.randn(waves, dimension, generator=generator, dtype=torch.float64)
    first = layer(width, dimension + 2 * waves)
    hidden = [layer(width, width) for _ in range(hidden_layers - 1)]
    activations = [activation() for _ in range(hidden_layers)]
    return projection, first, hidden, layer(outputs, width), activations


@pytest.mark.parametrize("waves", [0, 5])
@pytest.mark.parametrize("activation", [nn.SiLU, nn.Tanh, nn.GELU])
@pytest.mark.parametrize("hidden_layers", [1, 3])
def test_it_equals_the_layers_on_rows(waves, activation, hidden_layers):
    network = random_network(3, waves, 7, hidden_layers, 2, activation)
    x = torch.randn(11, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = layers_on_rows(x, *network)
        got = FeatureMajorMLP.from_layers(*network)(x)
    assert got.shape == (11, 2)
    torch.testing.assert_close(got, expected)


def test_it_casts_its_weights_to_each_dtype_it_is_called_with():
    network = FeatureMajorMLP.from_layers(*random_network(2, 4, 6, 2, 2, nn.SiLU))
    x = torch.randn(5, 2, dtype=torch.float64)
    with torch.no_grad():
        in_float64 = network(x)
        in_float32 = network(x.float())
    assert in_float32.dtype == torch.float32
    torch.testing.assert_close(in_float32, in_float64.float(), rtol=1e-5, atol=1e-5)


def test_its_input_is_left_as_it_was():
    network = FeatureMajorMLP.from_layers(*random_network(2, 4, 6, 2, 2, nn.SiLU))
    x = torch.randn(5, 2)
    kept = x.clone()
    with torch.no_grad():
        network(x)
    assert torch.equal(x, kept)


def test_with_bias_column_puts_the_bias_last():
    weight, bias = torch.arange(6.0).view(2, 3), torch.tensor([7.0, 8.0])
    assert torch.equal(with_bias_column(weight, bias), torch.tensor([[0.0, 1, 2, 7], [3, 4, 5, 8]]))


def test_the_first_layer_matrix_puts_the_sinusoids_first_then_x_then_the_bias():
    # Columns [x1, x2, s1, c1] (d = 2, F = 1) become [s1, c1, x1, x2, b], per time if batched.
    weight, bias = torch.arange(8.0).view(2, 4), torch.tensor([7.0, 8.0])
    expected = torch.tensor([[2.0, 3, 0, 1, 7], [6, 7, 4, 5, 8]])
    assert torch.equal(first_layer_matrix(weight, bias, 2), expected)
    assert torch.equal(first_layer_matrix(weight.expand(3, 2, 4), bias.expand(3, 2), 2), expected.expand(3, 2, 5))


def test_mismatched_layers_are_refused():
    projection, first, hidden, last, activations = random_network(2, 4, 6, 3, 2, nn.SiLU)
    with pytest.raises(ValueError, match="features"):
        FeatureMajorMLP.from_layers(projection[:3], first, hidden, last, activations)
    with pytest.raises(ValueError, match="activations"):
        FeatureMajorMLP.from_layers(projection, first, hidden, last, activations[:2])
    with pytest.raises(ValueError, match="hidden layer"):
        FeatureMajorMLP.from_layers(projection, first, [(torch.randn(5, 6), torch.randn(5))] * 2, last, activations)


@pytest.mark.parametrize("waves", [0, 5])
def test_one_affine_step_is_a_times_x_plus_b_times_the_network(waves):
    network = FeatureMajorMLP.from_layers(*random_network(3, waves, 7, 3, 3, nn.SiLU))
    x = torch.randn(11, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = 0.7 * x - 1.3 * network(x)
        returned = affine_steps_(x, [(network, 0.7, -1.3)])
    assert returned is x
    torch.testing.assert_close(x, expected)


def test_a_reused_workspace_gives_each_call_its_own_values():
    # The CPU keeps one workspace per thread and shape: a second call on other points must
    # not see the first one's, in inference mode or, later, outside it (under no_grad).
    network = FeatureMajorMLP.from_layers(*random_network(2, 4, 6, 2, 2, nn.SiLU))
    first, second = torch.randn(9, 2), torch.randn(9, 2)
    with torch.no_grad():
        expected_first, expected_second = network(first.clone()).clone(), network(second.clone()).clone()
    with torch.inference_mode():
        torch.testing.assert_close(network(second), expected_second)
        torch.testing.assert_close(network(first), expected_first)
    with torch.no_grad():
        torch.testing.assert_close(network(second), expected_second)


def test_a_thread_keeps_small_workspaces_and_not_large_ones():
    from pushforward.nn.feature_major import MAX_CACHED_BYTES, workspace

    def bytes_for(rows):
        return (2 * 4 + 2 + 1 + 2 * (6 + 1)) * rows * 4  # [sin; cos; x; 1] and two [h; 1], float32

    small = 1000
    large = MAX_CACHED_BYTES // bytes_for(1) + 1
    assert bytes_for(small) <= MAX_CACHED_BYTES < bytes_for(large)
    arguments = (4, 2, 6, torch.float32, torch.device("cpu"))
    assert workspace(small, *arguments) is workspace(small, *arguments)
    assert workspace(large, *arguments) is not workspace(large, *arguments)


def test_a_chain_of_steps_equals_the_steps_one_by_one():
    networks = [FeatureMajorMLP.from_layers(*random_network(2, 3, 5, 2, 2, nn.SiLU)) for _ in range(3)]
    for index, network in enumerate(networks):  # three different networks of one shape
        network._matrices["first"] = network._matrices["first"] * (1 + index)
    steps = [(networks[0], 0.9, 0.1), (networks[1], 1.1, -0.2), (networks[2], 0.7, 0.3)]
    x = torch.randn(13, 2, dtype=torch.float64)
    with torch.no_grad():
        expected = x.clone()
        for network, a, b in steps:
            expected = a * expected + b * network(expected)
        assert affine_steps_(x, steps) is x
    torch.testing.assert_close(x, expected)
    other = FeatureMajorMLP.from_layers(*random_network(2, 3, 6, 2, 2, nn.SiLU))
    with pytest.raises(ValueError, match="same shapes"):
        affine_steps_(x, [(networks[0], 1.0, 1.0), (other, 1.0, 1.0)])


def test_a_chain_of_multistep_predictions_equals_the_steps_one_by_one():
    from pushforward.nn.feature_major import prediction_steps_

    networks = [FeatureMajorMLP.from_layers(*random_network(2, 3, 5, 2, 2, nn.SiLU)) for _ in range(3)]
    for index, network in enumerate(networks):  # three different networks of one shape
        network._matrices["first"] = network._matrices["first"] * (1 + index)
    steps = [(networks[0], 0.9, 0.1, 0.5, 0.4, 0.0), (networks[1], 1.1, -0.2, 0.8, 0.3, -0.1), (networks[2], 0.7, 0.3, 0.0, 1.0, 0.2)]
    x = torch.randn(13, 2, dtype=torch.float64)
    with torch.no_grad():
        expected, previous = x.clone(), None
        for network, alpha, beta, a, b, c in steps:
            prediction = alpha * expected + beta * network(expected)
            expected = a * expected + b * prediction + (c * previous if c else 0)
            previous = prediction
        assert prediction_steps_(x, steps) is x
    torch.testing.assert_close(x, expected)
