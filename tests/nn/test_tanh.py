"""tanh by whichever form the machine computes fastest: every form is tanh."""

from __future__ import annotations

import pytest
import torch

import pushforward.nn.fastest_form as fastest_form_module
from pushforward.nn.tanh import FORMS, tanh, tanh_

# Every float32 regime: tiny, around 0, the bend, saturation, far out, and the infinities.
POINTS = torch.cat(
    [
        torch.linspace(-1e-3, 1e-3, 2001),
        torch.linspace(-6.0, 6.0, 120_001),
        torch.tensor([-1e4, -100.0, -20.0, 20.0, 100.0, 1e4, float("-inf"), float("inf")]),
    ]
)


@pytest.fixture(params=list(FORMS))
def form(request, monkeypatch):
    """Forces one form, whatever this machine's timing would choose."""
    monkeypatch.setattr(fastest_form_module, "fastest_form", lambda name, device_type: request.param)
    return request.param


def test_each_form_is_tanh_to_float32_rounding(form):
    exact = torch.tanh(POINTS.double())
    for result in (tanh(POINTS), tanh_(POINTS.clone())):
        assert result.dtype == torch.float32
        # One float32 unit near |tanh| = 1 is 6e-8; the sigmoid form's 2σ − 1 doubles σ's error.
        assert float((result.double() - exact).abs().max()) < 2.4e-7
    assert float(tanh(torch.zeros(1))) == 0.0
    torch.testing.assert_close(tanh(POINTS.double()), exact, rtol=0, atol=1e-15)


def test_in_place_form_overwrites_its_argument_and_the_other_does_not(form):
    h = torch.linspace(-3, 3, 101)
    kept = h.clone()
    assert tanh(h) is not h and torch.equal(h, kept)
    version = h._version
    assert tanh_(h) is h and not torch.equal(h, kept)
    assert h._version > version  # autograd sees the write, whichever library made it


def test_a_tensor_autograd_tracks_gets_torch_tanh_and_its_gradient(form):
    a = torch.linspace(-3, 3, 11, requires_grad=True)
    tanh(a).sum().backward()
    torch.testing.assert_close(a.grad, 1 - torch.tanh(a.detach()) ** 2)
    with torch.no_grad():
        assert not tanh(a).requires_grad
