import numpy as np
import pytest
import torch

from pushforward.errors import UserError
from pushforward.metrics import prdc
from pushforward.metrics.coverage import nearest_neighbour_radii


def _prdc_numpy(real, fake, k):
    """Precision, recall, density, coverage from the full distance matrices (the papers' definitions)."""
    rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)  # (m, n)
    real_radius = np.sort(rr, axis=1)[:, k]
    fake_radius = np.sort(ff, axis=1)[:, k]
    inside = fr <= real_radius[None, :]
    precision = inside.any(axis=1).mean()
    recall = (fr <= fake_radius[:, None]).any(axis=0).mean()
    density = inside.sum(axis=1).mean() / k
    coverage = (fr.min(axis=0) <= real_radius).mean()
    return precision, recall, density, coverage


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_the_definitions(k):
    rng = np.random.default_rng(k)
    real, fake = rng.normal(size=(120, 3)), rng.normal(loc=0.4, scale=1.3, size=(90, 3))
    result = prdc(torch.from_numpy(real), torch.from_numpy(fake), k=k)
    expected = _prdc_numpy(real, fake, k)
    got = (result.precision, result.recall, result.density, result.coverage)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert (result.n_real, result.n_fake, result.k) == (120, 90, k)


def test_identical_sets_have_precision_recall_and_coverage_one():
    x = torch.randn(500, 4, generator=torch.Generator().manual_seed(0))
    result = prdc(x, x.clone())
    assert result.precision == 1.0 and result.recall == 1.0 and result.coverage == 1.0
    assert result.precision_se == 0.0 and result.recall_se == 0.0
    # Each point lies in its own ball and, on average, in k others' (its k-th neighbour relation
    # is not symmetric, so only on average): density is near 1 + 1/k, not exactly 1.
    assert 0.8 < result.density < 1.5


def test_disjoint_sets_score_zero_and_a_collapsed_model_has_no_recall():
    generator = torch.Generator().manual_seed(1)
    real = torch.randn(300, 2, generator=generator)
    assert prdc(real, real + 100).precision == 0.0
    assert prdc(real, real + 100).coverage == 0.0
    collapsed = torch.randn(300, 2, generator=generator) * 0.01  # all samples at one mode
    result = prdc(real, collapsed)
    assert result.precision > 0.95 and result.coverage < 0.1 and result.recall < 0.1


def test_chunked_and_unchunked_results_agree_exactly():
    generator = torch.Generator().manual_seed(2)
    real, fake = torch.randn(257, 3, generator=generator), torch.randn(131, 3, generator=generator) * 1.2
    whole = prdc(real, fake, chunk=10_000)
    for chunk in (1, 7, 64):
        assert prdc(real, fake, chunk=chunk) == whole
    assert torch.equal(nearest_neighbour_radii(real.double(), 5, chunk=3), nearest_neighbour_radii(real.double(), 5, chunk=500))


def test_any_event_shape_is_flattened():
    generator = torch.Generator().manual_seed(3)
    images, other = torch.randn(40, 1, 2, 2, generator=generator), torch.randn(30, 1, 2, 2, generator=generator)
    assert prdc(images, other) == prdc(images.reshape(40, 4), other.reshape(30, 4))


@pytest.mark.parametrize(
    "x,y,kwargs,message",
    [
        (torch.zeros(10, 2), torch.zeros(10, 3), {}, "different dimensions"),
        (torch.zeros(1, 2), torch.zeros(10, 2), {}, "at least 2 points"),
        (torch.zeros(10, 2), torch.full((10, 2), float("inf")), {}, "infinite"),
        (torch.randn(5, 2), torch.randn(10, 2), {"k": 5}, "more than k=5 points"),
        (torch.randn(10, 2), torch.randn(10, 2), {"k": 0}, "k must be a positive whole number"),
        (torch.randn(10, 2), torch.randn(10, 2), {"chunk": -1}, "chunk"),
    ],
)
def test_bad_input(x, y, kwargs, message):
    with pytest.raises(UserError, match=message):
        prdc(x, y, **kwargs)
