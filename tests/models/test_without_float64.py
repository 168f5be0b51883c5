"""Every model trains, validates, finishes, samples and (where it has one) reports its
likelihood on a device without float64, as Apple's MPS is.

There is no such device here, so the CPU pretends to be one: ``precise_dtype`` is told that
the CPU lacks float64, and a torch function mode fails any operation that returns a float64
tensor. On MPS those operations raise ("Cannot convert a MPS Tensor to float64 dtype"), and a
module with a float64 buffer cannot even be moved there.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from torch.overrides import TorchFunctionMode

from pushforward import device as devices
from pushforward.models.base import create, model_names


class Float64Refused(TorchFunctionMode):
    """Fails any torch operation whose result is (or contains) a float64 tensor."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        results = result if isinstance(result, (tuple, list)) else (result,)
        if any(isinstance(r, torch.Tensor) and r.dtype is torch.float64 for r in results):
            raise AssertionError(f"{getattr(func, '__qualname__', func)} returned float64")
        return result


def test_the_guard_catches_a_cast_and_a_factory():
    with Float64Refused():
        with pytest.raises(AssertionError, match="float64"):
            torch.ones(2).double()
        with pytest.raises(AssertionError, match="float64"):
            torch.zeros((), dtype=torch.float64)
        torch.ones(2).float()


@pytest.fixture
def cpu_without_float64(monkeypatch):
    monkeypatch.setattr(devices, "DEVICE_TYPES_WITHOUT_FLOAT64", frozenset({"cpu", "mps"}))
    # torchdiffeq's Butcher tableaus are float64 constants made when it is imported; it casts
    # them to the state's dtype and device before use.
    importlib.import_module("torchdiffeq")


@pytest.mark.parametrize("name", model_names())
def test_a_model_runs_without_float64(name, cpu_without_float64):
    torch.manual_seed(0)
    model = create(name, (2,))
    wide = [key for key, value in model.state_dict().items() if value.dtype is torch.float64]
    assert not wide, f"{name} keeps float64 tensors {wide}: it cannot move to MPS"
    x = torch.randn(256, 2)
    with Float64Refused():
        model.start_training()
        for group, _ in model.step_plan():
            model.objective(x, group)["loss"].backward()
            model.after_step(group)
        model.zero_grad()
        with torch.no_grad():
            score = model.validation_score(x)
            model.finish_training(x[:128], seconds=None)
            samples = model.sample(64)
            if model.likelihood != "none":
                log_p = model.log_prob(x[:32])
                assert torch.isfinite(log_p).all()
    assert score == score  # not NaN
    assert samples.shape == (64, 2) and torch.isfinite(samples).all()
    assert not [key for key, value in model.state_dict().items() if value.dtype is torch.float64]
