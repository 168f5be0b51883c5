import math

import pytest
import torch

from pushforward.data.preprocessing import Standardize


def test_standardize_is_invertible_and_its_log_det_matches_autograd():
    x = torch.randn(500, 3, dtype=torch.float64) * torch.tensor([3.0, 0.1, 1.0], dtype=torch.float64) + 5
    transform = Standardize.fit(x.float())
    transform = Standardize(transform.mean.double(), transform.scale.double())
    y = transform.forward(x)
    torch.testing.assert_close(transform.inverse(y), x)
    assert torch.allclose(y.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    jacobian = torch.autograd.functional.jacobian(lambda row: transform.forward(row[None])[0], x[0])
    expected = torch.linalg.slogdet(jacobian).logabsdet
    torch.testing.assert_close(transform.log_det(x[:4]), expected.expand(4))


def test_standardize_keeps_nll_in_data_units():
    # A N(5, 3²) variable standardised: log p_x = log p_y + log|dy/dx| = log N(y) − log 3.
    x = torch.tensor([[5.0], [8.0]], dtype=torch.float64)
    transform = Standardize(torch.tensor([5.0], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64))
    y = transform.forward(x)
    log_p = -0.5 * y[:, 0] ** 2 - 0.5 * math.log(2 * math.pi) + transform.log_det(x)
    expected = torch.distributions.Normal(5.0, 3.0).log_prob(x[:, 0])
    torch.testing.assert_close(log_p, expected.double())


def test_per_channel_statistics_for_images_and_json_round_trip():
    x = torch.randn(64, 3, 4, 4) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    transform = Standardize.fit(x)
    assert transform.mean.shape == (3,)
    y = transform.forward(x)
    assert torch.allclose(y.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)
    assert torch.allclose(transform.log_det(x), -torch.log(transform.scale).sum().expand(64) * 16, atol=1e-4)
    again = Standardize.from_json(transform.to_json())
    torch.testing.assert_close(again.forward(x), y)


def test_a_column_of_tiny_values_is_standardized_by_its_own_spread():
    x = torch.stack([torch.randn(5000) * 1e-16 + 1e-15, torch.randn(5000)], dim=1)
    pre = Standardize.fit(x)
    z = pre.forward(x)
    assert z.std(dim=0) == pytest.approx([1.0, 1.0], rel=1e-3)
    torch.testing.assert_close(pre.inverse(z), x, rtol=1e-5, atol=0)
