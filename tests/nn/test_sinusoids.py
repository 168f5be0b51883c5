"""sin and cos by whichever library this machine computes faster: both are sin and cos."""

from __future__ import annotations

import math

import pytest
import torch

import pushforward.nn.fastest_form as fastest_form_module
from pushforward.nn.sinusoids import cos, cos_, sin, sin_

# Angles as random Fourier features make them: up to a few hundred radians, plus the edges.
ANGLES = torch.cat([torch.linspace(-300.0, 300.0, 200_001), torch.tensor([0.0, math.pi, -math.pi / 2, 1e-30])])


@pytest.fixture(params=["torch", "numpy"])
def form(request, monkeypatch):
    monkeypatch.setattr(fastest_form_module, "fastest_form", lambda name, device_type: request.param)
    return request.param


def test_each_form_is_sin_and_cos_to_float32_rounding(form):
    exact_sin, exact_cos = torch.sin(ANGLES.double()), torch.cos(ANGLES.double())
    for result, exact in ((sin(ANGLES), exact_sin), (sin_(ANGLES.clone()), exact_sin), (cos(ANGLES), exact_cos), (cos_(ANGLES.clone()), exact_cos)):
        assert result.dtype == torch.float32 and result.shape == ANGLES.shape
        # The float32 angle is exact; its sine's float32 rounding is at most 6e-8.
        assert float((result.double() - exact).abs().max()) < 1.2e-7


def test_the_in_place_forms_overwrite_their_argument_and_the_others_do_not(form):
    h = torch.linspace(-3, 3, 11)
    kept = h.clone()
    assert sin(h) is not h and cos(h) is not h and torch.equal(h, kept)
    assert cos_(h) is h and not torch.equal(h, kept)
    h = kept.clone()
    assert sin_(h) is h and not torch.equal(h, kept)


def test_a_tracked_tensor_gets_torchs_form_and_its_gradient(form):
    a = torch.linspace(-3, 3, 11, requires_grad=True)
    (sin(a) + cos(a)).sum().backward()
    torch.testing.assert_close(a.grad, torch.cos(a.detach()) - torch.sin(a.detach()))
