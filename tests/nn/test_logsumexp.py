"""log Σ exp without exponentials that underflow, against torch's and float64 references."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.nn.logsumexp import logsumexp


def _spread_rows(dtype: torch.dtype) -> torch.Tensor:
    """Rows whose terms lie from 0 to thousands below their maximum, as a mixture's do."""
    generator = torch.Generator().manual_seed(0)
    x = -torch.rand(64, 200, generator=generator, dtype=torch.float64) * 3000.0
    x[:, :5] = torch.randn(64, 5, generator=generator, dtype=torch.float64)  # a few terms that count
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [0, 1])
def test_matches_a_float64_reference_on_widely_spread_terms(dtype, dim):
    x = _spread_rows(dtype)
    expected = torch.logsumexp(x.double(), dim=dim)
    tolerance = 1e-6 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(logsumexp(x, dim=dim).double(), expected, rtol=tolerance, atol=tolerance)


def test_keepdim_and_shape():
    x = torch.randn(3, 4, 5)
    assert logsumexp(x, dim=1, keepdim=True).shape == (3, 1, 5)
    torch.testing.assert_close(logsumexp(x, dim=-1), torch.logsumexp(x, dim=-1))


def test_gradient_is_the_softmax_even_where_terms_underflow():
    x = _spread_rows(torch.float64).requires_grad_(True)
    logsumexp(x, dim=1).sum().backward()
    torch.testing.assert_close(x.grad, torch.softmax(x.detach(), dim=1), rtol=0, atol=1e-15)


def test_infinite_and_nan_rows_behave_as_torch():
    x = torch.tensor(
        [
            [-math.inf, -math.inf, -math.inf],
            [0.0, -math.inf, 1.0],
            [math.inf, 0.0, -5.0],
            [math.nan, 0.0, 1.0],
        ]
    )
    torch.testing.assert_close(logsumexp(x, dim=1), torch.logsumexp(x, dim=1), equal_nan=True)


def test_half_precision_falls_back_to_torch():
    x = torch.randn(4, 6, dtype=torch.bfloat16)
    assert torch.equal(logsumexp(x, dim=1), torch.logsumexp(x, dim=1))
