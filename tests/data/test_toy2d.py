"""The 2-D toys: seeded samplers, normalised exact densities, entropies, and sampler–density agreement."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from pushforward.data import toy2d
from pushforward.data.curves import NoisyCircles, NoisyCurves
from pushforward.data.toy2d import estimate_entropy, get_toy, sample_toy, toy_names
from pushforward.errors import UserError

NAMES = toy_names()
MIXTURES = {"8gaussians": 8, "25gaussians": 25}
MONTE_CARLO = ["moons", "circles", "rings", "2spirals", "pinwheel", "swissroll"]

# Finest feature of each density (noise std; the pinwheel's arms are sheared thinner than their
# 0.2 tangential std, so half that). Integration grids use spacing <= FEATURE / 2: for a density
# that is smooth on scale s the uniform-grid (midpoint = trapezoid) rule's aliasing error is about
# exp(-2 π² s² / h²) = exp(-79) at h = s / 2, so what is left is quadrature and truncation error.
FEATURE = {
    "checkerboard": 0.5,
    "8gaussians": 0.02,
    "25gaussians": 0.05,
    "moons": 0.2,
    "circles": 0.24,
    "rings": 0.08,
    "2spirals": 0.1,
    "pinwheel": 0.1,
    "swissroll": 0.2,
}
# Histogram bins for the chi-square test; each divides the bounds' widths.
BIN = {
    "checkerboard": 0.5,
    "8gaussians": 0.04,
    "25gaussians": 0.1,
    "moons": 0.25,
    "circles": 0.25,
    "rings": 0.2,
    "2spirals": 0.2,
    "pinwheel": 0.25,
    "swissroll": 0.25,
}


@functools.cache
def grid_mass(name: str) -> tuple[torch.Tensor, int, int]:
    """Probability of each fine grid cell over the toy's bounds (density × cell area), (nx, ny).

    The fine cells tile the histogram bins of BIN exactly, and for the checkerboard their edges
    fall on the squares' edges, so the midpoint rule is exact there.
    """
    toy = get_toy(name)
    x0, x1, y0, y1 = toy.bounds
    per_bin = math.ceil(BIN[name] / (FEATURE[name] / 2))
    h = BIN[name] / per_bin
    nx, ny = round((x1 - x0) / h), round((y1 - y0) / h)
    gx = x0 + h * (torch.arange(nx, dtype=torch.float64) + 0.5)
    gy = y0 + h * (torch.arange(ny, dtype=torch.float64) + 0.5)
    points = torch.stack(torch.meshgrid(gx, gy, indexing="ij"), dim=-1).reshape(-1, 2)
    mass = toy.log_prob(points).exp().reshape(nx, ny) * h * h
    return mass, per_bin, per_bin


# ---------------------------------------------------------------------------------------------
# Registry and API
# ---------------------------------------------------------------------------------------------


def test_names_and_fields():
    assert NAMES == [
        "checkerboard",
        "8gaussians",
        "25gaussians",
        "moons",
        "circles",
        "rings",
        "2spirals",
        "pinwheel",
        "swissroll",
    ]
    for name in NAMES:
        toy = get_toy(name)
        assert toy.name == name and toy.description
        assert get_toy(name) is toy and get_toy(name.upper()) is toy
        x0, x1, y0, y1 = toy.bounds
        assert x0 < x1 and y0 < y1
        assert math.isfinite(toy.entropy) and toy.entropy_method
        assert 0.0 <= toy.entropy_se <= 1e-3
        assert (toy.entropy_se == 0.0) == toy.entropy_method.startswith("closed form")
        assert (toy.modes is None) == (toy.mode_std is None) == (name not in MIXTURES)
        assert toy.bounded_support == (name == "checkerboard")


def test_unknown_name_raises_user_error_with_suggestion():
    with pytest.raises(UserError) as info:
        get_toy("8gaussian")
    assert "8gaussians" in info.value.fix and "did you mean" in info.value.fix
    with pytest.raises(UserError) as info:
        sample_toy("zzz", 10, seed=0)
    assert "checkerboard" in info.value.fix


@pytest.mark.parametrize("name", NAMES)
def test_sampler_is_seeded_float32_and_finite(name):
    toy = get_toy(name)
    a = toy.sample(2000, seed=7)
    assert a.dtype == torch.float32 and a.shape == (2000, 2) and torch.isfinite(a).all()
    assert torch.equal(a, toy.sample(2000, seed=7))
    assert torch.equal(a, sample_toy(name, 2000, 7))
    assert not torch.equal(a, toy.sample(2000, seed=8))
    generator = torch.Generator().manual_seed(7)
    assert torch.equal(a, toy.sample(2000, generator=generator))
    assert not torch.equal(a, toy.sample(2000, generator=generator))  # the generator advanced
    assert toy.sample(0, seed=1).shape == (0, 2)


def test_sample_argument_errors():
    toy = get_toy("moons")
    with pytest.raises(UserError):
        toy.sample(10, generator=torch.Generator(), seed=1)
    for bad in (-1, 2.5, "10", True):
        with pytest.raises(UserError):
            toy.sample(bad, seed=0)
    with pytest.raises(UserError):
        toy.sample(10, seed=1.5)


def test_log_prob_shapes_dtypes_and_errors():
    toy = get_toy("rings")
    x = toy.sample(12, seed=0)
    lp32 = toy.log_prob(x)
    lp64 = toy.log_prob(x.double())
    assert lp32.dtype == torch.float32 and lp64.dtype == torch.float64 and lp32.shape == (12,)
    torch.testing.assert_close(lp32, lp64.float())
    assert torch.equal(toy.log_prob(x.double().reshape(3, 4, 2)), lp64.reshape(3, 4))
    torch.testing.assert_close(toy.log_prob(x.double().numpy()), lp64)
    assert toy.log_prob(torch.zeros(0, 2)).shape == (0,)
    with pytest.raises(UserError):
        toy.log_prob(torch.zeros(5, 3))
    odd = torch.tensor([[math.inf, 0.0], [0.0, -math.inf], [math.nan, 1.0], [0.5, 0.5]])
    for name in NAMES:
        lp = get_toy(name).log_prob(odd)
        assert lp[0] == -math.inf and lp[1] == -math.inf and lp[2].isnan() and torch.isfinite(lp[3])
    x.requires_grad_(True)
    assert not toy.log_prob(x).requires_grad  # a fixed reference density, not a model


# ---------------------------------------------------------------------------------------------
# Densities: normalised, converged, consistent with the samplers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_density_integrates_to_one_over_bounds(name):
    # Tolerance: the checkerboard's grid is aligned with its squares (exact up to rounding); for
    # the others the grid's aliasing error is ~exp(-79) (see FEATURE), the quadrature error in
    # log p is < 1e-8 in the window, and the bounds leave out < 1e-9 of the mass.
    mass, _, _ = grid_mass(name)
    total = float(mass.sum())
    tol = 1e-12 if name == "checkerboard" else 1e-8
    assert abs(total - 1.0) < tol, total


@pytest.mark.parametrize("name", NAMES)
def test_samples_follow_the_density(name):
    """Chi-square test of a 50k-sample histogram against the density integrated over each bin."""
    toy = get_toy(name)
    mass, bx, by = grid_mass(name)
    nx, ny = mass.shape[0] // bx, mass.shape[1] // by
    p_bins = mass.reshape(nx, bx, ny, by).sum(dim=(1, 3)).reshape(-1).numpy()
    n = 50_000
    x = toy.sample(n, seed=20240).double()
    x0, _, y0, _ = toy.bounds
    ix = torch.floor((x[:, 0] - x0) / BIN[name]).long()
    iy = torch.floor((x[:, 1] - y0) / BIN[name]).long()
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    counts = np.bincount((ix * ny + iy)[inside].numpy(), minlength=nx * ny).astype(float)
    # Bins with expected count < 5 are pooled with everything outside the bounds; if even the pool
    # expects < 5 (checkerboard: 0), it is left out of the statistic and must be nearly empty.
    big = n * p_bins >= 5
    observed, expected = counts[big], n * p_bins[big]
    rest_observed, rest_expected = n - observed.sum(), n - expected.sum()
    if rest_expected >= 5:
        observed, expected = np.append(observed, rest_observed), np.append(expected, rest_expected)
    else:
        assert rest_observed <= 15  # P(Poisson(5) > 15) < 1e-4
    statistic = float(((observed - expected) ** 2 / expected).sum())
    p_value = stats.chi2.sf(statistic, df=len(observed) - 1)
    assert len(observed) > 20
    assert p_value > 1e-4, (statistic, len(observed), p_value)


@pytest.mark.parametrize("name", ["moons", "2spirals", "swissroll", "circles", "rings"])
def test_quadrature_is_converged(name):
    toy = get_toy(name)
    law = toy._law
    curves = law.curves if isinstance(law, NoisyCircles) else law
    assert isinstance(curves, NoisyCurves)
    fine = curves.refined(4)
    x0, x1, y0, y1 = toy.bounds
    u = torch.rand(4000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    window = torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=1)
    near = toy.sample(4000, seed=4).double()
    for points, tol in ((near, 1e-11), (window, 1e-8), (2.0 * window, 1e-5)):
        reference = fine.log_prob(points)
        error = (curves.log_prob(points) - reference).abs() / reference.abs().clamp_min(1.0)
        assert float(error.max()) < tol
        assert torch.isfinite(reference).all()


@pytest.mark.parametrize("name", ["circles", "rings"])
def test_circles_closed_form_matches_quadrature(name):
    law = get_toy(name)._law
    x = torch.cat([get_toy(name).sample(2000, seed=5).double(), 10.0 * torch.randn(500, 2, dtype=torch.float64)])
    torch.testing.assert_close(law.log_prob(x), law.curves.log_prob(x), rtol=1e-12, atol=1e-10)


def test_pinwheel_map_preserves_area():
    """The pinwheel density assumes each arm's swirl has Jacobian determinant scale² = 4."""
    law = get_toy("pinwheel")._law

    def arm(f, k=2):
        a = 2 * math.pi * k / 5 + 0.25 * torch.exp(f.norm())
        c, s = torch.cos(a), torch.sin(a)
        return 2.0 * torch.stack([c * f[0] + s * f[1], -s * f[0] + c * f[1]])

    g = torch.Generator().manual_seed(0)
    for f in torch.randn(20, 2, generator=g, dtype=torch.float64) * 0.8 + torch.tensor([1.0, 0.0]):
        jac = torch.autograd.functional.jacobian(arm, f)
        assert abs(float(torch.linalg.det(jac)) - 4.0) < 1e-10
    # and the density's inverse map undoes the sampler's forward map: the sampled arm dominates
    x = get_toy("pinwheel").sample(1000, seed=1).double()
    assert torch.isfinite(law.log_prob(x)).all()


def test_pinwheel_is_close_to_ffjords():
    """FFJORD's pinwheel (swirl by exp(f_1), not exp|f|) is nearly ours: its cross-entropy under
    our density is within 0.05 nats of our entropy (MC standard error here ~0.007)."""
    rng = np.random.RandomState(0)
    n = 20_000
    features = rng.randn(n, 2) * np.array([0.3, 0.1])
    features[:, 0] += 1.0
    labels = rng.randint(0, 5, n)
    angles = np.linspace(0, 2 * np.pi, 5, endpoint=False)[labels] + 0.25 * np.exp(features[:, 0])
    rotations = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)])
    rotations = np.reshape(rotations.T, (-1, 2, 2))
    x = 2 * np.einsum("ti,tij->tj", features, rotations)
    toy = get_toy("pinwheel")
    cross_entropy = -float(toy.log_prob(torch.from_numpy(x)).mean())
    assert abs(cross_entropy - toy.entropy) < 0.05


def test_moons_circles_swissroll_match_sklearn_curves():
    datasets = pytest.importorskip("sklearn.datasets")
    moons = datasets.make_moons(n_samples=101, noise=0.0)[0] * 2 + np.array([-1.0, -0.2])
    upper = np.abs(np.hypot(moons[:, 0] + 1.0, moons[:, 1] + 0.2) - 2.0) < 1e-12
    lower = np.abs(np.hypot(moons[:, 0] - 1.0, moons[:, 1] - 0.8) - 2.0) < 1e-12
    assert np.all((upper & (moons[:, 1] >= -0.2 - 1e-12)) | (lower & (moons[:, 1] <= 0.8 + 1e-12)))
    circles = datasets.make_circles(n_samples=100, factor=0.5, noise=0.0)[0] * 3
    np.testing.assert_allclose(np.sort(np.unique(np.round(np.hypot(*circles.T), 12))), [1.5, 3.0])
    roll, t = datasets.make_swiss_roll(n_samples=100, noise=0.0, random_state=0)
    arm = get_toy("swissroll")._law.curves[0]
    assert np.all((t >= arm.t0) & (t <= arm.t1))
    np.testing.assert_allclose(roll[:, [0, 2]] / 5, arm.point(torch.from_numpy(t)).numpy(), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Entropies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_stored_entropy_matches_a_fresh_estimate(name):
    """The control-variate estimator on 100k new samples (another seed) agrees within 4 SE."""
    toy = get_toy(name)
    value, se = estimate_entropy(name, n=100_000, seed=987_654)
    if toy.entropy_se == 0.0:
        assert abs(value - toy.entropy) < 1e-12
    else:
        assert 0 < se < 0.01
        assert abs(value - toy.entropy) < 4.0 * math.hypot(se, toy.entropy_se), (value, se)


@pytest.mark.parametrize("name", NAMES)
def test_stored_entropy_matches_grid_quadrature(name):
    """-∫ p log p on the integration grid (error << 1e-6, see FEATURE) agrees within 4 SE."""
    if name == "checkerboard":  # the grid is exact here, and p log p is 0 off the squares
        mass, _, _ = grid_mass(name)
        assert float(mass.sum()) * math.log(32.0) == pytest.approx(math.log(32.0), abs=1e-12)
        return
    toy = get_toy(name)
    mass, bx, _ = grid_mass(name)
    h = BIN[name] / bx
    log_p = torch.log(mass / (h * h))
    grid_entropy = -float(torch.where(mass > 0, mass * log_p, 0.0).sum())
    assert abs(grid_entropy - toy.entropy) <= 4.0 * toy.entropy_se + 1e-6, grid_entropy


@pytest.mark.parametrize("name", NAMES)
def test_mean_log_prob_of_samples_is_minus_entropy(name):
    """The plain estimate -mean log p(x), independent of the control variate, within 4 SE."""
    toy = get_toy(name)
    log_p = toy.log_prob(toy.sample(40_000, seed=31337).double())
    se = float(log_p.std()) / math.sqrt(log_p.numel())
    assert abs(-float(log_p.mean()) - toy.entropy) <= 4.0 * math.hypot(se, toy.entropy_se) + 1e-12


@pytest.mark.parametrize("name", sorted(MIXTURES))
def test_mixture_entropy_is_closed_form(name):
    toy = get_toy(name)
    k, s = MIXTURES[name], toy.mode_std
    assert toy.entropy == pytest.approx(math.log(k) + math.log(2 * math.pi * math.e * s * s), abs=1e-14)
    assert toy.entropy_se == 0.0


def test_checkerboard_entropy_is_log_32():
    toy = get_toy("checkerboard")
    assert toy.entropy == math.log(32.0) and toy.entropy_se == 0.0


def test_entropy_module_entry_recomputes(capsys):
    toy2d._main(["rings", "--n", "2000", "--seed", "1"])
    out = capsys.readouterr().out
    assert "rings" in out and "_MC_ENTROPY" in out


# ---------------------------------------------------------------------------------------------
# Checkerboard and mixtures
# ---------------------------------------------------------------------------------------------


def test_checkerboard_support_is_exact_and_matches_ffjord():
    toy = get_toy("checkerboard")
    x = toy.sample(200_000, seed=11)
    assert toy.support_contains(x).all()
    assert (toy.log_prob(x) == -math.log(32.0)).all()
    # Cell centres: black iff floor(x/2) + floor(y/2) is even; nothing outside [-4, 4]².
    centres = torch.tensor([(2 * i + 1.0, 2 * j + 1.0) for i in range(-3, 3) for j in range(-3, 3)])
    black = torch.tensor([(i + j) % 2 == 0 and -2 <= i < 2 and -2 <= j < 2 for i in range(-3, 3) for j in range(-3, 3)])
    assert torch.equal(toy.support_contains(centres), black)
    assert torch.equal(torch.isfinite(toy.log_prob(centres)), black)
    # Closed squares: edges and corners are in; one float64 ulp past an outer edge is out.
    assert toy.support_contains(torch.tensor([[-4.0, -4.0], [4.0, 4.0], [0.0, 0.0], [-4.0, 0.5], [2.0, 3.0]])).all()
    past = np.nextafter(4.0, 5.0)
    assert not toy.support_contains(torch.tensor([[past, 3.0], [-past, -3.0], [3.0, past]], dtype=torch.float64)).any()
    assert not toy.support_contains(torch.tensor([[3.0, 1.0], [-3.0, -1.0], [1.0, -1.0]])).any()
    # FFJORD's sampler (lib/toy_data.py) lands in the same squares.
    rng = np.random.RandomState(0)
    x1 = rng.rand(10_000) * 4 - 2
    x2 = rng.rand(10_000) - rng.randint(0, 2, 10_000) * 2 + np.floor(x1) % 2
    assert toy.support_contains(torch.from_numpy(np.stack([x1, x2], 1) * 2)).all()
    # Each square gets 1/8 of the mass.
    square = (torch.floor(x[:, 0] / 2) + 2) * 4 + torch.floor(x[:, 1] / 2) + 2
    counts = torch.bincount(square.long().clamp_max(15), minlength=16)
    counts = counts[counts > 0].numpy()
    assert len(counts) == 8
    assert stats.chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize("name", sorted(MIXTURES))
def test_mixture_modes_are_distinct_and_all_sampled(name):
    toy = get_toy(name)
    k, s = MIXTURES[name], toy.mode_std
    modes = toy.modes
    assert modes.shape == (k, 2) and modes.dtype == torch.float32
    distances = torch.cdist(modes.double(), modes.double()) + torch.eye(k) * 1e9
    assert float(distances.min()) > 30 * s  # distinct and well separated
    if name == "8gaussians":
        angles = torch.remainder(torch.atan2(modes[:, 1], modes[:, 0]).double(), 2 * math.pi)
        torch.testing.assert_close(torch.sort(angles).values, torch.arange(8, dtype=torch.float64) * math.pi / 4)
        torch.testing.assert_close(modes.norm(dim=1), torch.full((8,), 2.0))
    else:
        grid = torch.tensor([(a, b) for a in (-4.0, -2.0, 0.0, 2.0, 4.0) for b in (-4.0, -2.0, 0.0, 2.0, 4.0)])
        assert set(map(tuple, modes.tolist())) == set(map(tuple, grid.tolist()))
    x = toy.sample(40_000, seed=2)
    nearest = torch.cdist(x.double(), modes.double()).min(dim=1)
    assert float(nearest.values.max()) < 6 * s
    counts = torch.bincount(nearest.indices, minlength=k).numpy()
    assert stats.chisquare(counts).pvalue > 1e-4
    # squared distance to the mode / s² is chi-square with 2 degrees of freedom
    assert stats.kstest((nearest.values**2 / s**2).numpy(), stats.chi2(2).cdf).pvalue > 1e-4
