import dataclasses

import dcor
import numpy as np
import pytest
import torch
from scipy import stats

from pushforward.errors import UserError
from pushforward.metrics import TestResult, energy_distance, energy_test, median_bandwidth, mmd, mmd_test
from pushforward.metrics.two_sample import disjoint_blocks, energy_ratio, mean_within


def test_energy_distance_matches_dcor_and_chunking_does_not_change_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = rng.normal(loc=0.3, size=(200, 4))
    expected = dcor.energy_distance(x, y)
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-10)
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(y), chunk=7) == pytest.approx(expected, rel=1e-10)


def test_energy_distance_with_the_reference_term_given_matches_dcor():
    # The reference's own term, computed once, against dcor's full statistic for two samples.
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(250, 3))
    within = mean_within(torch.from_numpy(reference))
    assert within == pytest.approx(float(np.linalg.norm(reference[:, None, :] - reference[None, :, :], axis=-1).mean()), rel=1e-12)
    for loc in (0.0, 0.4):
        x = rng.normal(loc=loc, size=(180, 3))
        expected = dcor.energy_distance(x, reference)
        given = energy_distance(torch.from_numpy(x), torch.from_numpy(reference), within_y=within)
        assert given == pytest.approx(expected, rel=1e-10)


def test_energy_ratio_standard_error_matches_the_spread_of_repeated_ratios():
    # Many experiments of R draws per side from known distributions (coefficients of variation
    # 0.3 and 0.25, as for energy distances of a few draws): the delta-method standard error
    # must match the observed spread of the ratios of means.
    rng = np.random.default_rng(3)
    draws, experiments = 20, 4000
    distances = rng.gamma(shape=1 / 0.3**2, scale=1.3 * 0.3**2, size=(experiments, draws))
    floors = rng.gamma(shape=1 / 0.25**2, scale=0.25**2, size=(experiments, draws))
    results = [energy_ratio(d, f) for d, f in zip(distances, floors)]
    ratios = np.array([r.ratio for r in results])
    reported = np.array([r.ratio_se for r in results])
    assert np.mean(ratios) == pytest.approx(1.3, rel=0.01)
    assert np.median(reported) == pytest.approx(np.std(ratios), rel=0.1)


def test_energy_ratio_is_the_ratio_of_means_and_has_no_error_from_one_draw():
    result = energy_ratio([2.0, 4.0], [1.0, 2.0, 3.0])
    assert (result.distance, result.floor, result.ratio, result.draws, result.floor_draws) == (3.0, 2.0, 1.5, 2, 3)
    assert energy_ratio([2.0, 4.0], [1.0]).ratio_se is None
    assert energy_ratio([2.0], [1.0, 3.0]).ratio_se is None
    with pytest.raises(ValueError):
        energy_ratio([], [1.0])


def test_energy_distance_is_small_for_one_distribution_and_large_for_a_shift():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, 2, generator=generator), torch.randn(2000, 2, generator=generator)
    floor = energy_distance(a, b)
    shifted = energy_distance(a, b + 0.5)
    assert 0 < floor < 0.01
    assert shifted > 20 * floor


@pytest.mark.parametrize(
    "x,y,message",
    [
        (torch.zeros(10, 2), torch.zeros(10, 3), "different dimensions"),
        (torch.zeros(1, 2), torch.zeros(10, 2), "at least 2 points"),
        (torch.full((10, 2), float("nan")), torch.zeros(10, 2), "NaN"),
    ],
)
def test_bad_sample_sets(x, y, message):
    with pytest.raises(UserError, match=message):
        energy_distance(x, y)


# --- permutation tests: energy_test, mmd, mmd_test ---------------------------------------------


@pytest.mark.parametrize("n,m,seed", [(30, 30, 0), (45, 20, 3), (7, 60, 11)])
def test_energy_test_reproduces_dcor_statistic_and_p_value_exactly(n, m, seed):
    # The permutations are drawn from numpy.random.RandomState(seed) exactly as dcor draws them,
    # so the p-values agree exactly, not just within Monte-Carlo error.
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 3)), rng.normal(loc=0.25, size=(m, 3))
    expected = dcor.homogeneity.energy_test(x, y, num_resamples=99, random_state=seed)
    result = energy_test(torch.from_numpy(x), torch.from_numpy(y), permutations=99, seed=seed)
    assert result.statistic == pytest.approx(float(expected.statistic), rel=1e-9)
    assert result.p_value == expected.pvalue
    assert result.permutations == 99 and result.name == "energy"
    assert result.statistic == pytest.approx(n * m / (n + m) * energy_distance(x, y), rel=1e-10)


def _gaussian_gram(a, b, bandwidths):
    squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return sum(np.exp(-squared / (2 * s**2)) for s in bandwidths)


def _mmd_numpy(x, y, bandwidths):
    """Unbiased MMD² straight from the definition (Gretton et al. 2012, eq. 3)."""
    n, m = len(x), len(y)
    kxx, kyy, kxy = (_gaussian_gram(a, b, bandwidths) for a, b in [(x, x), (y, y), (x, y)])
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def _lower_median_distance(z):
    i, j = np.triu_indices(len(z), k=1)
    distances = np.sort(np.linalg.norm(z[i] - z[j], axis=1))
    return distances[(len(distances) - 1) // 2]


def test_mmd_matches_the_direct_formula_for_every_kind_of_bandwidth():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 4)), rng.normal(scale=1.3, size=(37, 4))
    median = _lower_median_distance(np.concatenate([x, y]))
    assert median_bandwidth(x, y) == pytest.approx(median, rel=1e-12)
    for bandwidth, sigmas in [
        (None, [median]),
        (0.7, [0.7]),
        (np.float32(0.75), [0.75]),
        ([0.5, 1, 2.0], [0.5, 1.0, 2.0]),
        (torch.tensor([0.5, 1.5]), [0.5, 1.5]),
    ]:
        expected = _mmd_numpy(x, y, sigmas)
        assert mmd(torch.from_numpy(x), torch.from_numpy(y), bandwidth=bandwidth) == pytest.approx(
            expected, rel=1e-9, abs=1e-14
        )
        assert mmd(x, y, bandwidth=bandwidth, chunk=6) == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_mmd_test_p_value_equals_a_slow_permutation_loop():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(25, 2)), rng.normal(loc=0.3, size=(31, 2))
    sigma = 0.9
    z, n = np.concatenate([x, y]), len(x)
    state = np.random.RandomState(5)
    observed = _mmd_numpy(x, y, [sigma])
    permuted = []
    for _ in range(49):
        perm = state.permutation(len(z))
        permuted.append(_mmd_numpy(z[perm[:n]], z[perm[n:]], [sigma]))
    expected_p = (1 + sum(p >= observed - 1e-12 for p in permuted)) / 50
    result = mmd_test(x, y, permutations=49, seed=5, bandwidth=sigma)
    assert result.statistic == pytest.approx(observed, rel=1e-9)
    assert result.p_value == pytest.approx(expected_p)
    assert result.name == "mmd" and result.permutations == 49


def test_under_the_null_p_values_are_roughly_uniform():
    # 100 independent pairs of small samples from one distribution: the number of p ≤ 0.05 is
    # Binomial(100, 0.05) for an exact test, so it must lie in that law's 99.9% interval.
    low, high = stats.binom.interval(0.999, 100, 0.05)
    generator = torch.Generator().manual_seed(0)
    p_values = {"energy": [], "mmd": []}
    for seed in range(100):
        x, y = torch.randn(30, 2, generator=generator), torch.randn(25, 2, generator=generator)
        p_values["energy"].append(energy_test(x, y, permutations=99, seed=seed).p_value)
        p_values["mmd"].append(mmd_test(x, y, permutations=99, seed=seed).p_value)
    for name, values in p_values.items():
        values = np.array(values)
        assert low <= (values <= 0.05).sum() <= high, name
        assert 0.35 < values.mean() < 0.65, name


def test_both_tests_reject_a_clear_shift():
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 3, generator=generator), torch.randn(150, 3, generator=generator) + 0.8
    for test in (energy_test, mmd_test):
        result = test(x, y, permutations=199)
        assert result.p_value <= 0.01
        assert result.p_value == 1 / 200  # no permutation reaches the observed statistic


def test_chunked_and_unchunked_results_agree():
    generator = torch.Generator().manual_seed(2)
    x, y = torch.randn(120, 5, generator=generator), torch.randn(90, 5, generator=generator) * 1.1
    for test in (energy_test, mmd_test):
        whole = test(x, y, permutations=150, seed=4, chunk=10_000)
        for chunk in (1, 7, 64):
            chunked = test(x, y, permutations=150, seed=4, chunk=chunk)
            assert chunked.statistic == pytest.approx(whole.statistic, rel=1e-9, abs=1e-14)
            assert chunked.p_value == whole.p_value


def test_many_permutations_span_several_label_batches(monkeypatch):
    import pushforward.metrics.two_sample as two_sample

    generator = torch.Generator().manual_seed(3)
    x, y = torch.randn(40, 2, generator=generator), torch.randn(30, 2, generator=generator)
    for test in (energy_test, mmd_test):
        expected = test(x, y, permutations=300, seed=1)
        with monkeypatch.context() as patch:
            patch.setattr(two_sample, "_LABEL_BUDGET", 70 * 16)  # 16 label rows per batch
            batched = test(x, y, permutations=300, seed=1)
        assert batched.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-14)
        assert batched.p_value == expected.p_value


def test_test_result_is_frozen_and_inputs_of_any_float_type_work():
    x = np.random.default_rng(4).normal(size=(20, 2)).astype(np.float32)
    result = energy_test(x, torch.from_numpy(x[::-1].copy()) + 0.01, permutations=9)
    assert isinstance(result, TestResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.p_value = 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_tensors_give_the_cpu_answer():
    generator = torch.Generator().manual_seed(5)
    x, y = torch.randn(60, 3, generator=generator), torch.randn(50, 3, generator=generator)
    for test in (energy_test, mmd_test):
        cpu, gpu = test(x, y, permutations=50), test(x.cuda(), y.cuda(), permutations=50)
        assert gpu.statistic == pytest.approx(cpu.statistic, rel=1e-9) and gpu.p_value == cpu.p_value


_BAD_SAMPLES = [
    (torch.zeros(10, 2), torch.zeros(10, 3), "different dimensions"),
    (torch.zeros(1, 2), torch.zeros(10, 2), "at least 2 points"),
    (torch.full((10, 2), float("nan")), torch.zeros(10, 2), "NaN"),
    (torch.zeros(10, 2), torch.full((10, 2), float("inf")), "infinite"),
]


@pytest.mark.parametrize("function", [energy_test, mmd, mmd_test])
@pytest.mark.parametrize("x,y,message", _BAD_SAMPLES)
def test_bad_sample_sets_for_the_tests(function, x, y, message):
    with pytest.raises(UserError, match=message):
        function(x, y)


@pytest.mark.parametrize("test", [energy_test, mmd_test])
@pytest.mark.parametrize("permutations", [0, -5, 2.5, True, "many", float("inf"), None])
def test_bad_permutation_counts(test, permutations):
    with pytest.raises(UserError, match="permutations") as error:
        test(torch.randn(10, 2), torch.randn(10, 2), permutations=permutations)
    assert error.value.fix


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, float("nan"), [], [1.0, -2.0], "wide", True])
def test_bad_bandwidths(bandwidth):
    with pytest.raises(UserError, match="bandwidth"):
        mmd(torch.randn(10, 2), torch.randn(10, 2), bandwidth=bandwidth)


def test_the_median_heuristic_refuses_duplicated_points_and_bad_chunks_are_refused():
    with pytest.raises(UserError, match="zero kernel bandwidth"):
        mmd_test(torch.zeros(10, 2), torch.zeros(10, 2))
    with pytest.raises(UserError, match="chunk"):
        energy_test(torch.randn(10, 2), torch.randn(10, 2), chunk=0)


def test_multiscale_bandwidth_sums_kernels_around_the_median():
    from pushforward.metrics import MULTISCALE_FACTORS, kernel_bandwidths

    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(40, 3)), rng.normal(loc=0.2, size=(35, 3))
    median = _lower_median_distance(np.concatenate([x, y]))
    sigmas = [f * median for f in MULTISCALE_FACTORS]
    assert kernel_bandwidths(x, y, "multiscale") == pytest.approx(sigmas, rel=1e-12)
    assert kernel_bandwidths(x, y, "median") == pytest.approx([median], rel=1e-12)
    assert mmd(x, y, bandwidth="multiscale") == pytest.approx(_mmd_numpy(x, y, sigmas), rel=1e-9)
    # The test with these kernels gives the statistic of mmd() and a p-value.
    result = mmd_test(x, y, bandwidth="multiscale", permutations=49)
    assert result.statistic == pytest.approx(_mmd_numpy(x, y, sigmas), rel=1e-9)


def test_multiscale_mmd_test_is_calibrated_under_the_null_and_rejects_a_shift():
    low, high = stats.binom.interval(0.999, 100, 0.05)
    generator = torch.Generator().manual_seed(7)
    p_values = []
    for seed in range(100):
        x, y = torch.randn(30, 2, generator=generator), torch.randn(25, 2, generator=generator)
        p_values.append(mmd_test(x, y, permutations=99, seed=seed, bandwidth="multiscale").p_value)
    assert low <= (np.array(p_values) <= 0.05).sum() <= high
    x, y = torch.randn(200, 3, generator=generator), torch.randn(150, 3, generator=generator) + 0.8
    assert mmd_test(x, y, permutations=199, bandwidth="multiscale").p_value == 1 / 200


def test_metrics_by_name_and_an_unknown_name():
    from pushforward.metrics import compute

    x, y = torch.randn(30, 2), torch.randn(30, 2) + 0.1
    assert compute("energy_distance", x, y) == energy_distance(x, y)
    assert compute("mmd_test", x, y, permutations=19) == mmd_test(x, y, permutations=19)
    with pytest.raises(UserError, match="unknown metric 'mdm'; did you mean 'mmd'"):
        compute("mdm", x, y)


def test_disjoint_blocks_cut_the_points_without_overlap_and_keep_one_block_of_a_short_set():
    points = torch.arange(23.0).reshape(-1, 1)
    blocks = disjoint_blocks(points, 5, most=3)
    assert [block.squeeze(1).tolist() for block in blocks] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]
    assert len(disjoint_blocks(points, 5, most=10)) == 4  # 23 rows hold four whole blocks
    assert [block.shape[0] for block in disjoint_blocks(points, 12, most=10)] == [12]  # fewer than 24 rows
    with pytest.raises(ValueError, match="at least 1"):
        disjoint_blocks(points, 0, most=3)
