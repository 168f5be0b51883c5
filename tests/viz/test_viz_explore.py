"""plot_density (the course's explorer), the change-of-variables density, safe expressions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pushforward.errors import UserError
from pushforward.viz import ExploreResult, plot_density, random_network

# Small sizes keep every call well under a second; the KDE test below uses the course's sizes.
FAST = {"n": 1500, "kde_points": 400, "resolution": 30}


def log_normal_2d(x: torch.Tensor, mean: float, variance: float) -> torch.Tensor:
    x = x.double()
    return -((x - mean) ** 2).sum(dim=1) / (2 * variance) - math.log(2 * math.pi * variance)


# -- the exact density by the change of variables -----------------------------------------------


@pytest.mark.parametrize("f", ["2*z + 1", lambda z: 2 * z + 1])
def test_affine_map_gives_the_closed_form_gaussian(f: object) -> None:
    result = plot_density(f, seed=3, **FAST)  # type: ignore[arg-type]
    assert isinstance(result, ExploreResult)
    torch.testing.assert_close(result.x, 2 * result.z + 1)
    assert result.log_density_exact is not None
    torch.testing.assert_close(result.log_density_exact, log_normal_2d(result.x, 1.0, 4.0), rtol=0, atol=1e-5)
    assert result.invertible is True
    assert "consistent with an invertible" in result.invertible_hint


def test_exp_gives_the_log_normal_density() -> None:
    result = plot_density("exp(z)", seed=1, **FAST)
    x = result.x.double()
    expected = (-torch.log(x) - torch.log(x) ** 2 / 2 - 0.5 * math.log(2 * math.pi)).sum(dim=1)
    assert result.log_density_exact is not None
    torch.testing.assert_close(result.log_density_exact, expected, rtol=0, atol=1e-4)
    assert result.invertible is True


def test_the_kde_of_an_affine_map_roughly_matches_its_gaussian() -> None:
    # grid step 0.2, so the checked points lie on the grid
    result = plot_density("2*z + 1", n=20000, kde_points=5000, bounds=(-7, 9, -7, 9), resolution=81)
    assert result.kde_x is not None
    xs, ys, density = result.kde_x
    points = [(1.0, 1.0), (3.0, 1.0), (1.0, -2.0), (-1.0, 3.0)]
    for px, py in points:
        j, i = int(np.argmin(abs(xs - px))), int(np.argmin(abs(ys - py)))
        truth = math.exp(-((px - 1) ** 2 + (py - 1) ** 2) / 8) / (8 * math.pi)
        assert density[i, j] == pytest.approx(truth, rel=0.15), (px, py)
    # ... and it is not the density of z: at the mode N(1, 4I) is clearly lower than N(0, I).
    j, i = int(np.argmin(abs(xs - 1))), int(np.argmin(abs(ys - 1)))
    assert density[i, j] < 0.8 * math.exp(-1) / (2 * math.pi)


def test_folds_and_collapses_are_reported_as_not_invertible() -> None:
    folded = plot_density("abs(z)", **FAST)
    assert folded.invertible is False and "folds" in folded.invertible_hint

    line = plot_density("(z1, z1)", **FAST)
    assert line.invertible is False and "singular" in line.invertible_hint
    assert line.kde_x is None  # the samples span no area
    assert line.log_density_exact is not None and torch.isinf(line.log_density_exact).all()


# -- where f is undefined (NaN or ±inf): outside its domain, not a fold --------------------------


def test_log_of_one_coordinate_is_undefined_on_half_the_mass_and_is_no_fold() -> None:
    n = 4000
    result = plot_density("(z1, log(z2))", n=n, kde_points=400, resolution=30)
    # The 1-D log: undefined exactly where z2 <= 0, half the Gaussian's mass.
    assert result.defined is not None
    assert torch.equal(result.defined, result.z[:, 1] > 0)
    assert result.undefined_fraction == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / n))
    assert result.undefined_fraction == pytest.approx(float((result.z[:, 1] <= 0).double().mean()), abs=1e-12)
    assert result.invertible is True and "fold" not in result.invertible_hint
    assert result.invertible_hint.startswith("f is undefined (NaN or ±inf) on ")
    assert result.undefined_note is not None and f"({int((~result.defined).sum()):,} of {n:,} samples" in result.undefined_note
    # Where f is defined the exact density is the closed form: x1 ~ N(0, 1), x2 = log z2 with z2 > 0.
    exact = result.log_density_exact
    assert exact is not None and torch.isnan(exact[~result.defined]).all()
    x = result.x[result.defined].double()
    z2 = x[:, 1].exp()
    expected = -0.5 * x[:, 0] ** 2 - 0.5 * z2**2 + x[:, 1] - math.log(2 * math.pi)
    torch.testing.assert_close(exact[result.defined], expected, rtol=0, atol=1e-4)


def test_log_of_both_coordinates_is_undefined_on_three_quarters_of_the_mass() -> None:
    n = 4000
    result = plot_density("log(z)", n=n, kde_points=400, resolution=30)
    # Defined only in the quadrant z1 > 0, z2 > 0, which holds a quarter of the mass.
    assert result.undefined_fraction == pytest.approx(0.75, abs=4 * math.sqrt(0.75 * 0.25 / n))
    assert result.invertible is True and "fold" not in result.invertible_hint


def test_the_density_of_x_is_of_the_mass_where_f_is_defined() -> None:
    # The KDE of the finite x is scaled to the mass they carry, so that it matches the exact
    # panel: on a box holding nearly all of that mass it integrates to 1 - undefined_fraction.
    result = plot_density("(z1, log(z2))", n=4000, kde_points=2000, resolution=80, bounds=(-6, 6, -9, 4))
    assert result.kde_x is not None
    xs, ys, density = result.kde_x
    mass = density.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert mass == pytest.approx(1 - result.undefined_fraction, abs=0.03)
    assert abs(mass - 1) > 0.4  # not a density normalised over the defined part alone


def test_a_genuine_fold_is_still_found_where_f_is_defined() -> None:
    result = plot_density("(log(z1), z2**2)", **FAST)
    assert result.undefined_fraction == pytest.approx(0.5, abs=0.1)
    assert result.invertible is False and "folds" in result.invertible_hint
    assert "of the samples where f is defined" in result.invertible_hint
    assert plot_density("sin(z)", **FAST).invertible is False


def test_sqrt_has_an_exact_density_where_it_is_defined() -> None:
    # The row-independence probe once took the first three samples, where sqrt's Jacobian was
    # NaN, and gave up on the exact density altogether.
    result = plot_density("sqrt(z)", **FAST)
    assert result.log_density_exact is not None and result.invertible is True
    finite = torch.isfinite(result.log_density_exact)
    assert torch.equal(finite, result.defined)


def test_the_z_panel_shows_where_f_is_undefined() -> None:
    result = plot_density("(z1, log(z2))", **FAST)
    assert result.figure is not None and result.defined is not None
    ax_z = result.figure.axes[0]
    dots = [c for c in ax_z.collections if c.get_label().startswith("f undefined")]
    assert len(dots) == 1
    drawn = dots[0].get_offsets()
    assert len(drawn) == int((~result.defined).sum())
    assert (np.asarray(drawn)[:, 1] <= 0).all()  # exactly the z where log(z2) is undefined
    # A map defined everywhere draws no such dots, and says nothing about undefined points.
    everywhere = plot_density("exp(z)", **FAST)
    assert everywhere.undefined_fraction == 0 and everywhere.undefined_note is None
    assert not [c for c in everywhere.figure.axes[0].collections if c.get_label().startswith("f undefined")]


def test_a_map_undefined_everywhere_is_a_user_error() -> None:
    with pytest.raises(UserError, match="undefined .* at all 1500 samples"):
        plot_density("log(-z**2)", **FAST)


def test_a_numpy_function_works_pointwise_without_an_exact_density() -> None:
    result = plot_density(lambda p: np.array([p[0], p[1] ** 3]), vectorized=False, n=300, kde_points=300, resolution=20)
    torch.testing.assert_close(result.x[:, 1], result.z[:, 1] ** 3)
    assert result.log_density_exact is None and result.invertible is None
    assert "not be differentiated" in result.invertible_hint


def test_a_map_that_mixes_the_batch_gets_no_per_sample_density() -> None:
    norm = torch.nn.BatchNorm1d(2).train()
    result = plot_density(lambda z: norm(z), **FAST)
    assert result.log_density_exact is None
    assert "mixes the rows" in result.invertible_hint


def test_a_transformation_of_the_wrong_shape_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"\(n, 2\)"):
        plot_density(lambda z: z.sum(dim=1), **FAST)


def test_samples_are_seeded_and_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = plot_density("z", seed=7, **FAST)
    assert torch.equal(torch.get_rng_state(), before)
    b = plot_density("z", seed=7, **FAST)
    c = plot_density("z", seed=8, **FAST)
    assert torch.equal(a.z, b.z) and not torch.equal(a.z, c.z)
    assert a.z.std().item() == pytest.approx(1.0, abs=0.1)


# -- the default transformation -----------------------------------------------------------------


def test_random_network_is_a_fixed_seeded_function() -> None:
    z = torch.randn(50, 2)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first, again, other = random_network(seed=4), random_network(seed=4), random_network(seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(first(z), again(z)) and not torch.allclose(first(z), other(z))
    assert first(z).shape == (50, 2)
    assert not any(p.requires_grad for p in first.parameters())
    deep = random_network(hidden=8, layers=3, activation="relu")
    assert sum(isinstance(m, torch.nn.Linear) for m in deep) == 4
    with pytest.raises(UserError, match="tanh"):
        random_network(activation="tanhh")


def test_default_transformation_is_the_random_network() -> None:
    result = plot_density(None, seed=2, **FAST)
    with torch.no_grad():
        torch.testing.assert_close(result.x, random_network(seed=2)(result.z))
    assert result.log_density_exact is not None
