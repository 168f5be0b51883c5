"""MADE (Germain et al., 2015): outputs depend only on earlier inputs in the order."""

from __future__ import annotations

import pytest
import torch

from pushforward.nn import MADE


@pytest.mark.parametrize("features", [1, 2, 5])
@pytest.mark.parametrize("hidden_layers", [0, 1, 2])
@pytest.mark.parametrize("order", ["natural", "reversed", "random"])
def test_autoregressive_property(features, hidden_layers, order):
    torch.manual_seed(0)
    if order == "natural":
        permutation = torch.arange(features)
    elif order == "reversed":
        permutation = torch.arange(features).flip(0)
    else:
        permutation = torch.randperm(features, generator=torch.Generator().manual_seed(4))
    made = MADE(features, 3, hidden_features=16, hidden_layers=hidden_layers, order=permutation, activation="tanh").double()
    x = torch.randn(features, dtype=torch.float64)
    out = made(x[None])[0]
    assert out.shape == (features, 3)
    jacobian = torch.autograd.functional.jacobian(lambda v: made(v[None])[0], x)  # (D, P, D)
    position = torch.empty(features, dtype=torch.long)
    position[permutation] = torch.arange(features)
    for i in range(features):
        for j in range(features):
            block = jacobian[i, :, j]
            if position[j] >= position[i]:
                assert torch.equal(block, torch.zeros_like(block)), f"output {i} depends on input {j}"
            else:
                # Every earlier input is connected: the masks do not cut more than they must.
                assert torch.any(block != 0), f"output {i} ignores earlier input {j}"


def test_zero_last_gives_zero_parameters():
    made = MADE(4, 2, 8, 2, zero_last=True)
    assert torch.equal(made(torch.randn(3, 4)), torch.zeros(3, 4, 2))


def test_order_must_be_a_permutation():
    with pytest.raises(ValueError):
        MADE(3, 1, 8, 1, order=[0, 0, 2])
