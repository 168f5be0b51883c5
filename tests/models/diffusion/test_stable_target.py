"""The stable target is the posterior mean of x_0 over the row's own point and a reference batch:
checked against a direct sum, against the closed-form posterior mean of Gaussian data, and in its
low-noise limit, where it must equal the plain target exactly."""

from __future__ import annotations

import math

import torch

from pushforward.models.diffusion.stable_target import stable_target_x0


def _noised(n: int, alpha: float, generator: torch.Generator, mean: float = 0.0, scale: float = 1.0, dtype=torch.float64):
    x0 = mean + scale * torch.randn(n, 2, generator=generator, dtype=dtype)
    # σ from α in float64, as the model does (from λ): in float32, 1 − α² would round to 0.
    alpha_t = torch.full((n,), alpha, dtype=torch.float64)
    alpha_t, sigma_t = alpha_t.to(dtype), (1 - alpha_t.square()).sqrt().to(dtype)
    x_t = alpha_t[:, None] * x0 + sigma_t[:, None] * torch.randn(n, 2, generator=generator, dtype=dtype)
    return x0, x_t, alpha_t, sigma_t


def test_equals_the_direct_weighted_sum_over_own_point_and_the_others():
    generator = torch.Generator().manual_seed(0)
    n, m = 60, 25
    x0 = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    alpha = torch.rand(n, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    sigma = (1 - alpha.square()).sqrt()
    x_t = alpha[:, None] * x0 + sigma[:, None] * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    expected = []
    for i in range(n):
        # Row i's set: its own x_0 and the first m rows without itself.
        others = [x0[j] for j in range(m) if j != i]
        points = torch.stack([x0[i], *others])
        log_weights = -(x_t[i] - alpha[i] * points).square().sum(dim=1) / (2 * sigma[i] ** 2)
        expected.append(torch.softmax(log_weights, dim=0) @ points)
    torch.testing.assert_close(stable_target_x0(x_t, alpha, sigma, x0, m), torch.stack(expected), rtol=1e-12, atol=1e-12)


def test_approaches_the_closed_form_posterior_mean_of_gaussian_data():
    # x_0 ~ N(μ, s² I): E[x_0 | x_t] = μ + α s² (x_t − α μ) / (α² s² + σ²), with posterior
    # variance s² σ² / (α² s² + σ²). At α = 0.3 the plain target x_0 misses that mean by the
    # posterior's whole spread; the stable target over 4,096 reference points must be far closer.
    generator = torch.Generator().manual_seed(1)
    mean, scale, alpha = 0.7, 0.5, 0.3
    x0, x_t, alpha_t, sigma_t = _noised(4096, alpha, generator, mean, scale)
    sigma = math.sqrt(1 - alpha**2)
    marginal = alpha**2 * scale**2 + sigma**2
    posterior_mean = mean + alpha * scale**2 * (x_t - alpha * mean) / marginal
    posterior_sd = scale * sigma / math.sqrt(marginal)
    stable = stable_target_x0(x_t, alpha_t, sigma_t, x0, 4096)
    plain_rms = float((x0 - posterior_mean).square().mean().sqrt())
    stable_rms = float((stable - posterior_mean).square().mean().sqrt())
    assert abs(plain_rms / posterior_sd - 1) < 0.05  # the plain target's error is the posterior's spread
    # Self-normalised weights over m draws of the prior: error ≈ posterior sd / √(effective
    # sample size), which is in the thousands here; 0.05 of the spread leaves a wide margin.
    assert stable_rms < 0.05 * posterior_sd


def test_at_low_noise_the_weights_sit_on_the_own_point_exactly():
    generator = torch.Generator().manual_seed(2)
    x0, x_t, alpha_t, sigma_t = _noised(512, math.sqrt(1 - 1e-8), generator, dtype=torch.float32)
    assert torch.equal(stable_target_x0(x_t, alpha_t, sigma_t, x0, 256), x0)


def test_at_pure_noise_every_point_weighs_the_same():
    generator = torch.Generator().manual_seed(3)
    n, m = 300, 100
    x0, x_t, alpha_t, sigma_t = _noised(n, 0.0, generator)
    stable = stable_target_x0(x_t, alpha_t, sigma_t, x0, m)
    # Row i < m: its own point and the m − 1 others, i.e. the first m rows; row i ≥ m: m + 1 points.
    first = x0[:m].sum(dim=0)
    torch.testing.assert_close(stable[:m], (first / m).expand(m, 2))
    torch.testing.assert_close(stable[m:], (first + x0[m:]) / (m + 1))
