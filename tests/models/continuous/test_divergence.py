"""Exact divergence against the autograd Jacobian; Hutchinson's estimator is unbiased."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.continuous.divergence import divergence_exact, divergence_hutchinson, sample_probe
from pushforward.models.continuous.fields import MLPField


def jacobians(field, t, x):
    """Per-sample Jacobians ``(n, D, D)`` from torch.autograd.functional, the reference."""
    return torch.stack([torch.autograd.functional.jacobian(lambda p: field(t, p[None])[0], row) for row in x])


@pytest.mark.parametrize("dimension", [1, 2, 5])
def test_exact_divergence_and_frobenius_match_the_autograd_jacobian(dimension):
    torch.manual_seed(0)
    field = MLPField((dimension,), hidden_features=16, hidden_layers=2, activation="tanh", frequencies=2, space_features=3).double()
    x = torch.randn(7, dimension, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.3, dtype=torch.float64)
    div, frobenius = divergence_exact(field(t, x), x)
    reference = jacobians(field, t, x.detach())
    torch.testing.assert_close(div, torch.diagonal(reference, dim1=1, dim2=2).sum(-1), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(frobenius, reference.pow(2).sum((1, 2)), rtol=1e-10, atol=1e-12)


def test_exact_divergence_works_on_image_shaped_events():
    torch.manual_seed(1)
    field = MLPField((2, 2, 2), hidden_features=8, hidden_layers=1).double()
    x = torch.randn(3, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    div, _ = divergence_exact(field(torch.tensor(0.0, dtype=torch.float64), x), x)
    flat_field = lambda p: field(torch.tensor(0.0, dtype=torch.float64), p.reshape(1, 2, 2, 2)).reshape(-1)  # noqa: E731
    reference = torch.stack([torch.trace(torch.autograd.functional.jacobian(flat_field, row.reshape(-1))) for row in x.detach()])
    torch.testing.assert_close(div, reference)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased_for_divergence_and_frobenius(kind):
    torch.manual_seed(2)
    dimension, probes = 4, 20000
    field = MLPField((dimension,), hidden_features=16, hidden_layers=2, activation="tanh").double()
    point = torch.randn(1, dimension, dtype=torch.float64)
    t = torch.tensor(0.7, dtype=torch.float64)
    # Many probes at one point: repeat the point so each row gets its own probe.
    x = point.expand(probes, dimension).clone().requires_grad_(True)
    probe = sample_probe(x, kind, torch.Generator().manual_seed(3))
    estimate, frobenius_estimate = divergence_hutchinson(field(t, x), x, probe)
    jacobian = jacobians(field, t, point)[0]
    for values, truth in ((estimate, torch.trace(jacobian)), (frobenius_estimate, jacobian.pow(2).sum())):
        standard_error = values.std() / math.sqrt(probes)
        assert standard_error > 0  # the estimator really is random here
        assert abs(values.mean() - truth) < 4 * standard_error


def test_probes_have_identity_second_moment():
    like = torch.zeros(50000, 3)
    for kind in ("rademacher", "gaussian"):
        probe = sample_probe(like, kind, torch.Generator().manual_seed(0))
        moment = probe.T @ probe / probe.shape[0]
        torch.testing.assert_close(moment, torch.eye(3), atol=0.03, rtol=0)
    assert set(sample_probe(like, "rademacher").unique().tolist()) == {-1.0, 1.0}
    with pytest.raises(ValueError):
        sample_probe(like, "uniform")  # type: ignore[arg-type]
