"""density_on_grid and density_on_line: normalisation, layout, chunking and the handling of bad values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pushforward.errors import UserError
from pushforward.viz import density_on_grid, density_on_line


def standard_normal(points: torch.Tensor) -> torch.Tensor:
    return -0.5 * (points**2).sum(dim=1) - math.log(2 * math.pi)


def test_standard_normal_integrates_to_one_on_a_wide_grid() -> None:
    xs, ys, density = density_on_grid(standard_normal, (-8, 8, -8, 8), resolution=401)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert density.shape == (401, 401)
    assert density.sum() * cell == pytest.approx(1.0, abs=1e-3)
    # ... and the grid is where it says it is: the peak sits at the origin.
    i, j = np.unravel_index(density.argmax(), density.shape)
    assert (xs[j], ys[i]) == (0.0, 0.0)
    assert density.max() == pytest.approx(1 / (2 * math.pi), rel=1e-5)


def test_rows_run_along_y_and_columns_along_x() -> None:
    # log p = x1 + 2 x2 (unnormalised, but the layout is all that matters here)
    xs, ys, density = density_on_grid(lambda p: p[:, 0] + 2 * p[:, 1], (0, 1, -1, 0), resolution=5)
    expected = np.exp(xs[None, :] + 2 * ys[:, None])
    np.testing.assert_allclose(density, expected, rtol=1e-6)


def test_chunking_gives_the_same_grid_and_bounds_each_call() -> None:
    sizes: list[int] = []

    def counted(points: torch.Tensor) -> torch.Tensor:
        sizes.append(len(points))
        assert points.dtype == torch.float32 and not torch.is_grad_enabled()
        return standard_normal(points)

    _, _, whole = density_on_grid(standard_normal, (-3, 3, -2, 2), resolution=30)
    _, _, pieces = density_on_grid(counted, (-3, 3, -2, 2), resolution=30, chunk=97)
    np.testing.assert_allclose(pieces, whole)
    assert max(sizes) <= 97 and sum(sizes) == 900 and len(sizes) == math.ceil(900 / 97)


def test_non_finite_log_densities_become_zero() -> None:
    def ragged(points: torch.Tensor) -> torch.Tensor:
        out = standard_normal(points)
        out = torch.where(points[:, 0] < 0, torch.full_like(out, float("nan")), out)
        return torch.where(points[:, 1] > 1, torch.full_like(out, float("inf")), out)

    xs, ys, density = density_on_grid(ragged, (-2, 2, -2, 2), resolution=41)
    assert np.isfinite(density).all()
    assert (density[:, xs < 0] == 0).all()
    assert (density[ys > 1, :] == 0).all()
    assert (density[np.ix_(ys <= 1, xs >= 0)] > 0).all()


@pytest.mark.parametrize("bounds", [(1, 0, 0, 1), (0, 1, 0, float("nan")), (0, 1, 2), "abcd"])
def test_bad_bounds_are_a_user_error(bounds: object) -> None:
    with pytest.raises(UserError):
        density_on_grid(standard_normal, bounds, resolution=10)  # type: ignore[arg-type]


def test_a_log_prob_of_the_wrong_length_is_a_user_error() -> None:
    with pytest.raises(UserError, match="one log-density per point"):
        density_on_grid(lambda p: p, (-1, 1, -1, 1), resolution=10)


# -- the 1-D curve ---------------------------------------------------------------------------


def test_the_curve_of_a_standard_normal_integrates_to_one_on_a_wide_line() -> None:
    xs, density = density_on_line(lambda p: -0.5 * p[:, 0] ** 2 - 0.5 * math.log(2 * math.pi), (-8, 8), resolution=801)
    assert xs.shape == density.shape == (801,)
    assert (xs[0], xs[-1]) == (-8.0, 8.0)
    assert np.trapezoid(density, xs) == pytest.approx(1.0, abs=1e-6)
    assert density[400] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-6) and xs[400] == 0.0


def test_the_curve_is_chunked_without_gradients_and_zero_where_not_finite() -> None:
    seen: list[tuple[int, ...]] = []

    def ragged(points: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(points.shape))
        assert points.dtype == torch.float32 and not torch.is_grad_enabled()
        out = -0.5 * points[:, 0] ** 2
        return torch.where(points[:, 0] < 0, torch.full_like(out, float("nan")), out)

    xs, density = density_on_line(ragged, (-1, 1), resolution=21, chunk=8)
    assert seen == [(8, 1), (8, 1), (5, 1)]
    assert (density[xs < 0] == 0).all() and (density[xs >= 0] > 0).all()


@pytest.mark.parametrize("bounds", [(1, 0), (0, float("inf")), (0,), "ab"])
def test_bad_bounds_of_a_curve_are_a_user_error(bounds: object) -> None:
    with pytest.raises(UserError, match="bounds"):
        density_on_line(lambda p: p[:, 0], bounds, resolution=10)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="one log-density per point"):
        density_on_line(lambda p: p.repeat(1, 2), (0, 1), resolution=10)
