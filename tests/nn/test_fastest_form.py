"""The timed choice between equal forms of an elementwise function, and numpy's forms."""

from __future__ import annotations

import time

import numpy
import torch

from pushforward.nn.fastest_form import (
    REQUIRED_SPEEDUP,
    _timed_choice,
    fastest_form,
    form_for,
    numpy_allowed,
    numpy_form,
    numpy_form_,
    register_forms,
)


def _slow(seconds: float):
    def form(a: torch.Tensor) -> torch.Tensor:
        time.sleep(seconds)
        return a

    return form


def test_a_form_must_beat_the_reference_clearly_and_the_choice_is_cached():
    register_forms("test: clear winner", {"reference": _slow(0.004), "fast": _slow(0.0)})
    register_forms("test: near tie", {"reference": _slow(0.004), "close": _slow(0.004 / REQUIRED_SPEEDUP * 1.1)})
    assert fastest_form("test: clear winner", "cpu") == "fast"
    assert fastest_form("test: near tie", "cpu") == "reference"
    hits = _timed_choice.cache_info().hits
    assert fastest_form("test: clear winner", "cpu") == "fast"
    assert _timed_choice.cache_info().hits == hits + 1
    misses = _timed_choice.cache_info().misses
    torch.set_num_threads(2)  # timed again: the winner may differ with the thread count
    assert fastest_form("test: clear winner", "cpu") == "fast"
    assert _timed_choice.cache_info().misses == misses + 1


def test_accelerators_keep_the_reference():
    register_forms("test: accelerator", {"reference": _slow(0.001), "fast": _slow(0.0)})
    assert fastest_form("test: accelerator", "cuda") == "reference"


def test_numpy_forms_compute_on_the_tensors_memory():
    a = torch.linspace(-3, 3, 7).view(7, 1).expand(7, 3)  # not contiguous
    torch.testing.assert_close(numpy_form(numpy.sin)(a), torch.sin(a), rtol=0, atol=2e-7)
    h = torch.linspace(-3, 3, 7)
    expected = torch.cos(h)
    assert numpy_form_(numpy.cos)(h) is h
    torch.testing.assert_close(h, expected, rtol=0, atol=2e-7)
    with torch.inference_mode():
        g = torch.linspace(-3, 3, 7)
        numpy_form_(numpy.cos)(g)  # inference tensors too
        torch.testing.assert_close(g, expected, rtol=0, atol=2e-7)


def test_numpy_is_allowed_only_where_autograd_does_not_track_the_tensor():
    assert numpy_allowed(torch.ones(2)) and numpy_allowed(torch.ones(2, dtype=torch.float64))
    assert not numpy_allowed(torch.ones(2, requires_grad=True))
    with torch.no_grad():
        assert numpy_allowed(torch.ones(2, requires_grad=True))
    assert not numpy_allowed(torch.ones(2, dtype=torch.float16))
    assert not numpy_allowed(torch.ones(2, device="meta"))


def test_a_tensor_numpy_may_not_take_gets_the_reference_form():
    register_forms("test: numpy wins", {"reference": _slow(0.004), "numpy": _slow(0.0)})
    assert form_for("test: numpy wins", torch.ones(2)) == "numpy"
    assert form_for("test: numpy wins", torch.ones(2, requires_grad=True)) == "reference"
    assert form_for("test: numpy wins", torch.ones(2, dtype=torch.float16)) == "reference"
