"""Device selection and the precise dtype each device has."""

from __future__ import annotations

import pytest
import torch

from pushforward import device as devices
from pushforward.errors import UserError


def test_precise_dtype_is_float64_except_on_mps():
    assert devices.precise_dtype(torch.device("cpu")) is torch.float64
    assert devices.precise_dtype(torch.device("cuda")) is torch.float64
    assert devices.precise_dtype(torch.device("mps")) is torch.float32


def test_widened_casts_to_the_devices_precise_dtype(monkeypatch):
    x = torch.tensor([1.0, 2.0])
    assert devices.widened(x).dtype is torch.float64
    monkeypatch.setattr(devices, "DEVICE_TYPES_WITHOUT_FLOAT64", frozenset({"cpu"}))
    assert devices.widened(x).dtype is torch.float32
    assert devices.widened(x.double()).dtype is torch.float32


def test_resolve_device_names_the_fix_for_an_unknown_device():
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        devices.resolve_device("tpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")
