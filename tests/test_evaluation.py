"""evaluate_model's energy ratio: the mean of several draws on each side, against dcor."""

import dcor
import numpy as np
import pytest
import torch

import pushforward as pf
from pushforward.evaluation import ENERGY_DRAWS, evaluate_model

SMALL_DATA = {"n_train": 2000, "n_validation": 500, "n_test": 1000}


def test_toy_energy_ratio_is_the_mean_of_draws_of_samples_over_the_mean_of_fresh_floors(tmp_path):
    fitted = pf.fit("checkerboard", model="test-gaussian", steps=20, out=tmp_path / "run", settings=SMALL_DATA, figures=False)
    n, seed = 300, 5
    results = evaluate_model(fitted, n=n, seed=seed)

    # The same draws, scored independently by dcor: samples with seeds seed + r, fresh real
    # points with seeds seed + 7 + r, draw r against held-out block r mod 3 (1,000 test points
    # hold three disjoint blocks of 300).
    dataset = fitted.dataset()
    blocks = [dataset.test[k * n : (k + 1) * n].double().numpy() for k in range(3)]
    distances = [dcor.energy_distance(fitted.sample_tensor(n, seed=seed + r).double().numpy(), blocks[r % 3]) for r in range(ENERGY_DRAWS)]
    floors = [dcor.energy_distance(dataset.fresh_real_samples(n, seed=seed + 7 + r).double().numpy(), blocks[r % 3]) for r in range(ENERGY_DRAWS)]
    assert results["energy_draws"] == results["energy_floor_draws"] == ENERGY_DRAWS
    assert results["energy_distance"] == pytest.approx(np.mean(distances), rel=1e-9)
    assert results["energy_floor"] == pytest.approx(np.mean(floors), rel=1e-9)
    assert results["energy_ratio"] == pytest.approx(np.mean(distances) / np.mean(floors), rel=1e-9)
    relative_variance = np.var(distances, ddof=1) / np.mean(distances) ** 2 / ENERGY_DRAWS + np.var(floors, ddof=1) / np.mean(floors) ** 2 / ENERGY_DRAWS
    assert results["energy_ratio_se"] == pytest.approx(results["energy_ratio"] * np.sqrt(relative_variance), rel=1e-9)
    # A Gaussian fitted to the checkerboard is told apart from it even at 300 points (SE ~0.3).
    assert results["energy_ratio"] > 2
    # What the draws average to, from all 1,500 samples at once against 6,000 fresh points by
    # projections: the same quantity, with its own error.
    tolerance = 3 * np.hypot(results["energy_ratio_se"], results["energy_ratio_expected_se"])
    assert results["energy_ratio_expected"] == pytest.approx(results["energy_ratio"], abs=tolerance)
    assert results["energy_ratio_expected_se"] < results["energy_ratio_se"]


def test_file_data_has_one_floor_draw_and_no_standard_error(tmp_path):
    points = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)).numpy()
    path = tmp_path / "points.npy"
    np.save(path, points)
    fitted = pf.fit(path, model="test-gaussian", steps=20, out=tmp_path / "run", figures=False)
    results = evaluate_model(fitted, n=1000, seed=0)
    assert results["energy_draws"] == ENERGY_DRAWS and results["energy_floor_draws"] == 1
    assert results["energy_ratio_se"] is None
    assert results["energy_ratio"] == pytest.approx(results["energy_distance"] / results["energy_floor"], rel=1e-12)
    # The file's whole test split is the reference for the expected ratio; a Gaussian fitted to
    # Gaussian points is close to it.
    assert abs(results["energy_ratio_expected"] - 1) < 4 * results["energy_ratio_expected_se"] + 0.1


def test_a_toy_test_split_too_small_for_two_blocks_scores_every_draw_against_one(tmp_path):
    fitted = pf.fit("checkerboard", model="test-gaussian", steps=20, out=tmp_path / "run", settings=SMALL_DATA, figures=False)
    n, seed = 600, 3
    results = evaluate_model(fitted, n=n, seed=seed)
    dataset = fitted.dataset()
    reference = dataset.test[:n].double().numpy()
    distances = [dcor.energy_distance(fitted.sample_tensor(n, seed=seed + r).double().numpy(), reference) for r in range(ENERGY_DRAWS)]
    assert results["energy_distance"] == pytest.approx(np.mean(distances), rel=1e-9)
