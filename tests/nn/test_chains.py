"""Sampler chains on one chunk: the written-out forms, and the fused forms a time-conditioned
network takes, which must equal them and must be the ones taken when they can be."""

from __future__ import annotations

import pytest
import torch

import pushforward.nn.feature_major as feature_major
from pushforward.nn.chains import affine_steps_, affine_steps_written_out_, prediction_steps_, prediction_steps_written_out_
from tests.nn.test_time_conditioned import perturbed_sampling_network


def linear(scale: float):
    return lambda x: scale * x + 1.0


def test_affine_steps_apply_in_turn_in_place():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    # 0.5·1 + 2·(3·1 + 1) = 8.5, then 1·8.5 − 1·(8.5 + 1) = −1 (the first coordinate)
    result = affine_steps_written_out_(x, [(linear(3.0), 0.5, 2.0), (linear(1.0), 1.0, -1.0)])
    assert result is x
    assert x[0, 0].item() == pytest.approx(-1.0)


def test_prediction_steps_use_the_previous_prediction():
    x = torch.tensor([[2.0]], dtype=torch.float64)
    steps = [(linear(1.0), 1.0, 1.0, 0.0, 1.0, 0.0), (linear(0.0), 0.0, 1.0, 1.0, 1.0, 0.5)]
    # y1 = 2 + (2 + 1) = 5, x = 5; y2 = 0 + 1 = 1, x = 5 + 1 + 0.5·5 = 8.5
    assert prediction_steps_written_out_(x, steps) is x
    assert x.item() == pytest.approx(8.5)


def test_a_first_step_cannot_lean_on_a_previous_prediction():
    with pytest.raises(AssertionError, match="previous prediction"):
        prediction_steps_written_out_(torch.ones(1, 1), [(linear(1.0), 1.0, 1.0, 1.0, 1.0, 0.3)])


def record_fused_calls(monkeypatch, name: str) -> list[int]:
    """Calls of ``feature_major.<name>``, the fused chain, recorded as they happen."""
    calls: list[int] = []
    original = getattr(feature_major, name)
    monkeypatch.setattr(feature_major, name, lambda x, steps: calls.append(1) or original(x, steps))
    return calls


@pytest.mark.parametrize("input_frequencies", [0, 2])
@pytest.mark.parametrize("grad", [False, True])
def test_a_fused_chain_of_sampler_steps_equals_the_steps_one_by_one(input_frequencies, grad, monkeypatch):
    fused = record_fused_calls(monkeypatch, "affine_steps_")
    network = perturbed_sampling_network(input_frequencies)
    times = torch.tensor([0.8, 0.3, -0.5], dtype=torch.float64)
    coefficients = [(0.9, 0.2), (1.1, -0.1), (0.95, 0.3)]
    x = torch.randn(9, 2, dtype=torch.float64)
    with torch.no_grad():
        expected = x.clone()
        for c, (a, b) in zip(times, coefficients):
            expected = a * expected + b * network(expected, c.expand(9))
    with torch.set_grad_enabled(grad):
        at_times = network.at_times(times)
        result = affine_steps_(x, [(at_time, a, b) for at_time, (a, b) in zip(at_times, coefficients)])
    assert result is x
    torch.testing.assert_close(x.detach(), expected)
    # Fused only without autograd and octave features (the points-as-columns form).
    assert fused == ([1] if input_frequencies == 0 and not grad else [])


@pytest.mark.parametrize("input_frequencies", [0, 2])
def test_a_fused_chain_of_multistep_predictions_equals_the_steps_one_by_one(input_frequencies, monkeypatch):
    fused = record_fused_calls(monkeypatch, "prediction_steps_")
    network = perturbed_sampling_network(input_frequencies)
    times = torch.tensor([0.8, 0.3, -0.5], dtype=torch.float64)
    coefficients = [(0.9, 0.2, 0.5, 0.4, 0.0), (1.1, -0.1, 0.8, 0.3, -0.2), (0.95, 0.3, 0.0, 1.0, 0.1)]
    x = torch.randn(9, 2, dtype=torch.float64)
    with torch.no_grad():
        expected, previous = x.clone(), None
        for c_time, (alpha, beta, a, b, c) in zip(times, coefficients):
            prediction = alpha * expected + beta * network(expected, c_time.expand(9))
            expected = a * expected + b * prediction + (c * previous if c else 0)
            previous = prediction
        at_times = network.at_times(times)
        result = prediction_steps_(x, [(at_time, *numbers) for at_time, numbers in zip(at_times, coefficients)])
    assert result is x
    torch.testing.assert_close(x, expected)
    assert fused == ([1] if input_frequencies == 0 else [])
