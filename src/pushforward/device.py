"""Device selection: ``"auto"`` picks CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from pushforward.errors import UserError


def precise_dtype(device: torch.device) -> torch.dtype:
    """The most precise float dtype ``device`` has: float64, except on MPS, which has none (its
    tensors refuse the cast), where it is float32."""
    return torch.float32 if device.type == "mps" else torch.float64


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
