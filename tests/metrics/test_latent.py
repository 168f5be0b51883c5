"""Active latent dimensions: principal variances of posterior means against numpy's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pushforward.metrics.latent import latent_activity


def test_principal_variances_match_numpy_eigenvalues_of_the_covariance():
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(500, 3, generator=generator) @ torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.3, 0.2], [0.0, 0.0, 0.05]])
    activity = latent_activity(means)
    reference = np.sort(np.linalg.eigvalsh(np.cov(means.double().numpy(), rowvar=False)))[::-1]
    np.testing.assert_allclose(activity.variances, reference, rtol=1e-10, atol=1e-14)
    assert activity.dimensions == 3
    assert activity.active == int((reference > 1e-2).sum())


def test_a_tilted_line_is_one_active_direction_though_both_coordinates_vary():
    # What a collapsed 2-D VAE's posterior means look like: every coordinate varies (Burda et
    # al.'s per-unit count would say 2), but they lie on one line.
    generator = torch.Generator().manual_seed(1)
    s = torch.randn(2000, generator=generator)
    means = torch.stack([s, -0.3 * s + 0.001 * torch.randn(2000, generator=generator)], dim=1)
    assert means.var(dim=0).min() > 1e-2
    activity = latent_activity(means)
    assert activity.active == 1
    assert activity.variances[1] < 1e-5 < activity.variances[0]


def test_isotropic_means_use_every_direction_and_the_threshold_counts():
    means = torch.randn(4000, 2, generator=torch.Generator().manual_seed(2)) * 0.2  # variance 0.04
    assert latent_activity(means).active == 2
    assert latent_activity(means, threshold=0.1).active == 0


def test_too_few_points_are_rejected():
    with pytest.raises(ValueError, match="posterior means"):
        latent_activity(torch.zeros(1, 2))
