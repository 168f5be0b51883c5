"""The shared MLP."""

from __future__ import annotations

import pytest
import torch

from pushforward.errors import UserError
from pushforward.nn import MLP


@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh", "elu"])
@pytest.mark.parametrize("hidden_layers", [0, 1, 3])
def test_shapes_and_depth(activation, hidden_layers):
    net = MLP(3, 5, 16, hidden_layers, activation)
    assert net(torch.randn(7, 3)).shape == (7, 5)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert len(linears) == hidden_layers + 1


def test_zero_last_gives_zero_output_but_trainable_hidden_layers():
    net = MLP(3, 4, 8, 2, zero_last=True)
    x = torch.randn(5, 3)
    assert torch.equal(net(x), torch.zeros(5, 4))
    net(x).pow(2).sum().backward()
    assert any(p.grad is not None for p in net.parameters())
    assert not torch.equal(net[0].weight, torch.zeros_like(net[0].weight))


def test_unknown_activation_is_a_user_error():
    with pytest.raises(UserError):
        MLP(2, 2, 4, 1, activation="swish")


@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh", "elu"])
def test_activate_in_place_gives_the_module_values_and_overwrites_when_it_can(activation):
    from pushforward.nn.mlp import activate, activation_module
    from pushforward.nn.tanh import tanh

    module = activation_module(activation)
    h = torch.randn(6, 4, dtype=torch.float64)
    h_before = h.clone()
    expected = module(h.clone())
    out = activate(module, h, in_place=True)
    # tanh's in-place form may be 2σ(2h) − 1 (pushforward.nn.tanh): equal to rounding, not bitwise,
    # and bitwise the out-of-place form of that module.
    rounding = 4 * torch.finfo(h.dtype).eps if activation == "tanh" else 0.0
    torch.testing.assert_close(out, expected, atol=rounding, rtol=0)
    if activation == "tanh":
        assert torch.equal(out, tanh(h_before))
    # gelu has no in-place form, so it alone must leave its input untouched.
    assert (out.data_ptr() == h.data_ptr()) == (activation != "gelu")
    h = torch.randn(6, 4, dtype=torch.float64)
    kept = h.clone()
    activate(module, h, in_place=False)
    assert torch.equal(h, kept)
