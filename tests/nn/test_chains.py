"""The written-out sampler chains: the reference the fused forms are tested against."""

from __future__ import annotations

import pytest
import torch

from pushforward.nn.chains import affine_steps_written_out_, prediction_steps_written_out_


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
