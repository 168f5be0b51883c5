import dcor
import numpy as np
import pytest
import torch

from pushforward.errors import UserError
from pushforward.metrics import energy_distance


def test_energy_distance_matches_dcor_and_chunking_does_not_change_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = rng.normal(loc=0.3, size=(200, 4))
    expected = dcor.energy_distance(x, y)
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-10)
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(y), chunk=7) == pytest.approx(expected, rel=1e-10)


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
