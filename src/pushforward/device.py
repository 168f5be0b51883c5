"""Device selection: ``"auto"`` picks CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from pushforward.errors import UserError


DEVICE_TYPES_WITHOUT_FLOAT64: frozenset[str] = frozenset({"mps"})
"""Device types whose tensors refuse float64: Apple's MPS (its framework has no such type;
PyTorch closed pytorch/pytorch#122602 as expected behaviour). Tests add "cpu" to check that no
code path on such a device asks for float64."""


def precise_dtype(device: torch.device) -> torch.dtype:
    """The most precise float dtype ``device`` has: float64, except on a device without it
    (:data:`DEVICE_TYPES_WITHOUT_FLOAT64`), where it is float32. Code that widens for precision
    (sums of many terms, a noise schedule's arithmetic, an ODE solver's times) asks this
    instead of naming float64, so it also runs on MPS."""
    return torch.float32 if device.type in DEVICE_TYPES_WITHOUT_FLOAT64 else torch.float64


def host_precise_dtype() -> torch.dtype:
    """The CPU's :func:`precise_dtype` (float64), for scalars computed there whatever the model's
    device (a noise schedule's coefficients)."""
    return precise_dtype(torch.device("cpu"))


def widened(x: torch.Tensor) -> torch.Tensor:
    """``x`` in its device's :func:`precise_dtype`."""
    return x.to(precise_dtype(x.device))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` (or a device string) into a usable :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise UserError(f"unknown device '{device}'", "use auto, cpu, cuda or mps") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but CUDA is not available", "use --device auto or cpu")
    return resolved
