"""A log-density evaluated on a regular grid: 2-D for a heat map, 1-D for a curve."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.viz._common import check_bounds


def density_on_grid(
    log_prob: Callable[[Tensor], Tensor],
    bounds: Sequence[float],
    resolution: int = 200,
    chunk: int = 65536,
    *,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate ``exp(log_prob)`` at the centres of a ``resolution`` x ``resolution`` grid.

    Args:
        log_prob: maps a float32 tensor of points, shape ``(m, 2)``, to their log-densities,
            shape ``(m,)`` (e.g. ``model.log_prob``; put the model in ``eval()`` mode first).
        bounds: ``(xmin, xmax, ymin, ymax)``.
        resolution: grid points per axis.
        chunk: at most this many points per call of ``log_prob``, to bound memory.
        device: where to put the points; by default the device of ``log_prob``'s module (when
            it is a bound method of an ``nn.Module``), else the CPU.

    Returns:
        ``(xs, ys, density)``: the grid coordinates along x and y (each ``(resolution,)``)
        and the density, ``(resolution, resolution)`` float64 with rows along y and columns
        along x, i.e. ``density[i, j] = p(xs[j], ys[i])`` — the layout of ``imshow(...,
        origin="lower")`` and ``pcolormesh(xs, ys, density)``. Points where the log-density is
        not finite (NaN, or overflow) get density 0.

    The evaluation runs under ``torch.no_grad()``: a picture needs no gradients.
    """
    xmin, xmax, ymin, ymax = check_bounds(bounds)
    resolution, chunk = _checked_sizes(resolution, chunk, "grid resolution", "points per axis, e.g. 200")
    xs = np.linspace(xmin, xmax, resolution)
    ys = np.linspace(ymin, ymax, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys, indexing="xy")
    points = torch.from_numpy(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32))
    density = _density_at(log_prob, points, chunk, device)
    return xs, ys, density.reshape(resolution, resolution)


def density_on_line(
    log_prob: Callable[[Tensor], Tensor],
    bounds: Sequence[float],
    resolution: int = 400,
    chunk: int = 65536,
    *,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``exp(log_prob)`` of a 1-D model at ``resolution`` evenly spaced points: a density curve.

    Args:
        log_prob: maps a float32 tensor of points, shape ``(m, 1)``, to their log-densities,
            shape ``(m,)``.
        bounds: ``(xmin, xmax)``, both ends included.
        resolution: points on the line.
        chunk: at most this many points per call of ``log_prob``.
        device: as for :func:`density_on_grid`.

    Returns:
        ``(xs, density)``, both ``(resolution,)`` float64; non-finite log-densities give 0. The
        trapezoidal sum ``numpy.trapezoid(density, xs)`` is the model's mass on the interval.
    """
    try:
        xmin, xmax = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise UserError(f"bounds {bounds!r} are not two numbers", "give (xmin, xmax), e.g. (-4, 4)") from None
    if not (np.isfinite([xmin, xmax]).all() and xmin < xmax):
        raise UserError(f"bounds {bounds!r} do not describe an interval", "give finite (xmin, xmax) with xmin < xmax")
    resolution, chunk = _checked_sizes(resolution, chunk, "resolution", "points, e.g. 400")
    xs = np.linspace(xmin, xmax, resolution)
    points = torch.from_numpy(xs.astype(np.float32))[:, None]
    return xs, _density_at(log_prob, points, chunk, device)


def _checked_sizes(resolution: int, chunk: int, name: str, example: str) -> tuple[int, int]:
    resolution, chunk = int(resolution), int(chunk)
    if resolution < 2:
        raise UserError(f"{name} {resolution} is too small", f"use at least 2 {example}")
    if chunk < 1:
        raise UserError(f"chunk size {chunk} is not positive", "use e.g. 65536 points per call")
    return resolution, chunk


def _density_at(
    log_prob: Callable[[Tensor], Tensor], points: Tensor, chunk: int, device: torch.device | str | None
) -> np.ndarray:
    """``exp(log_prob(points))`` as float64, ``chunk`` points per call, without gradients; 0 where not finite."""
    target = torch.device(device) if device is not None else _device_of(log_prob)
    log_density = np.empty(len(points), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(points), chunk):
            batch = points[start : start + chunk].to(target)
            values = torch.as_tensor(log_prob(batch))
            if values.numel() != len(batch):
                raise UserError(
                    f"log_prob gave {values.numel()} values for {len(batch)} points (shape {tuple(values.shape)})",
                    "return one log-density per point, shape (n,)",
                )
            # To the CPU before the cast: MPS has no float64.
            log_density[start : start + len(batch)] = values.reshape(-1).detach().cpu().double().numpy()

    with np.errstate(over="ignore", invalid="ignore"):
        density = np.exp(log_density)
    density[~np.isfinite(density)] = 0.0
    return density


def _device_of(function: Callable[..., object]) -> torch.device:
    """The device of the module a bound method belongs to, else the CPU."""
    owner = getattr(function, "__self__", function)
    if isinstance(owner, torch.nn.Module):
        for tensor in list(owner.parameters()) + list(owner.buffers()):
            return tensor.device
    return torch.device("cpu")
