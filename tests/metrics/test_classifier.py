import numpy as np
import pytest
import torch
from scipy import stats

from pushforward.errors import UserError
from pushforward.metrics import C2STResult, c2st


@pytest.mark.parametrize("classifier,draws,size", [("knn", 200, 60), ("boosting", 20, 40)])
def test_under_the_null_the_false_positive_rate_is_at_most_the_level(classifier, draws, size):
    # Two samples of one distribution, `draws` times: each p ≤ 0.05 with probability at most
    # 0.05 (the binomial p-value is exact or conservative), so their count is at most a
    # Binomial(draws, 0.05) and must lie below its 99.9% upper bound. Accuracies average 1/2.
    _, high = stats.binom.interval(0.999, draws, 0.05)
    generator = torch.Generator().manual_seed(0)
    p_values, accuracies = [], []
    for seed in range(draws):
        x, y = torch.randn(size, 3, generator=generator), torch.randn(size, 3, generator=generator)
        result = c2st(x, y, classifier=classifier, seed=seed)
        p_values.append(result.p_value)
        accuracies.append(result.accuracy)
    assert (np.array(p_values) <= 0.05).sum() <= high
    # Each accuracy has standard deviation ≤ 1/(2√n_test) = 1/(2√size); their mean 1/√draws of that.
    tolerance = 4 / (2 * np.sqrt(size) * np.sqrt(draws))
    assert abs(np.mean(accuracies) - 0.5) < tolerance


@pytest.mark.parametrize("classifier", ["boosting", "knn", "mlp"])
def test_a_clear_shift_is_detected(classifier):
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(400, 2, generator=generator), torch.randn(400, 2, generator=generator) + 1.5
    result = c2st(x, y, classifier=classifier)
    assert isinstance(result, C2STResult) and result.classifier == classifier
    assert result.accuracy > 0.7 and result.p_value < 1e-6
    assert result.n_test == 400 and result.n_train == 400  # half of each class held out


def test_boosting_still_tells_clearly_different_small_samples_apart():
    # 30 points per side: 30 training points, which scikit-learn's default leaf of 20 cannot
    # split (its accuracy was exactly 1/2 for any two samples).
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(30, 2, generator=generator)
    y = torch.randn(30, 2, generator=generator) * 0.33 + 1.09
    result = c2st(x, y)
    assert result.accuracy > 0.75 and result.p_value < 0.01


def test_the_p_value_is_the_binomial_tail_and_sizes_are_balanced():
    generator = torch.Generator().manual_seed(2)
    x, y = torch.randn(300, 2, generator=generator), torch.randn(101, 2, generator=generator) * 2
    result = c2st(x, y, test_fraction=0.3, classifier="knn")
    # 101 points per class after balancing; 30 of each held out.
    assert result.n_test == 60 and result.n_train == 142
    correct = round(result.accuracy * result.n_test)
    expected = sum(stats.binom.pmf(j, 60, 0.5) for j in range(correct, 61))
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    assert result.accuracy_se == pytest.approx(np.sqrt(result.accuracy * (1 - result.accuracy) / 60))


def test_seeded_results_repeat():
    x, y = np.random.default_rng(3).normal(size=(2, 200, 2))
    assert c2st(x, y, seed=4) == c2st(x, y, seed=4)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"classifier": "svm"}, "unknown classifier 'svm'"),
        ({"classifier": "knnn"}, "did you mean 'knn'"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": 0}, "test_fraction"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(UserError, match=message):
        c2st(torch.randn(20, 2), torch.randn(20, 2), **kwargs)


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
        c2st(x, y)
