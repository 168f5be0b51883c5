"""The mixture prior's log-density: the expanded matmul form against the direct form and scipy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from pushforward.models.vae.priors import MixturePrior, _MixtureLogSumExp


def make_prior(components: int, latent: int, narrow: bool, dtype: torch.dtype) -> MixturePrior:
    generator = torch.Generator().manual_seed(3)
    prior = MixturePrior(latent, components, generator=generator).to(dtype)
    with torch.no_grad():
        prior.logits.normal_(generator=generator)
        prior.means.mul_(3.0)
        # Narrow components (σ down to e^-4 ≈ 0.018) are where the expansion cancels large terms.
        low = -4.0 if narrow else -1.0
        prior.log_scales.uniform_(low, 0.5, generator=generator)
    return prior


@pytest.mark.parametrize("narrow", [False, True])
def test_expanded_form_equals_direct_form_in_float64(narrow: bool) -> None:
    prior = make_prior(16, 3, narrow, torch.float64)
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    expanded = prior._component_log_densities_expanded(z)
    direct = prior._component_log_densities_direct(z)
    torch.testing.assert_close(expanded, direct, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("narrow", [False, True])
def test_float32_log_prob_matches_float64_reference(narrow: bool) -> None:
    prior64 = make_prior(16, 3, narrow, torch.float64)
    prior32 = copy.deepcopy(prior64).float()
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = prior64.log_prob(z)
    torch.testing.assert_close(prior32.log_prob(z.float()).double(), reference, rtol=1e-5, atol=1e-4)


def test_log_prob_against_scipy_mixture() -> None:
    prior = make_prior(5, 2, False, torch.float64)
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    weights = torch.softmax(prior.logits, 0).detach().numpy()
    means = prior.means.detach().numpy()
    scales = torch.exp(prior.log_scales).detach().numpy()
    densities = sum(w * multivariate_normal(m, np.diag(s**2)).pdf(z.numpy()) for w, m, s in zip(weights, means, scales))
    np.testing.assert_allclose(prior.log_prob(z).detach().numpy(), np.log(densities), rtol=1e-10)


def test_gradients_of_both_forms_agree() -> None:
    prior = make_prior(8, 2, True, torch.float64)
    z = torch.randn(100, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64, requires_grad=True)
    grads = []
    for form in (prior._component_log_densities_expanded, prior._component_log_densities_direct):
        total = torch.logsumexp(form(z), dim=1).sum()
        grads.append(torch.autograd.grad(total, [z, prior.means, prior.log_scales]))
    for expanded, direct in zip(*grads):
        torch.testing.assert_close(expanded, direct, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("narrow", [False, True])
def test_fused_log_prob_and_its_gradients_equal_the_direct_form(narrow: bool) -> None:
    prior = make_prior(16, 3, narrow, torch.float64)
    z = torch.randn(300, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64).mul(3).requires_grad_(True)
    parameters = [z, prior.logits, prior.means, prior.log_scales]
    fused = prior.log_prob(z)
    direct = torch.logsumexp(prior._component_log_densities_direct(z) + torch.log_softmax(prior.logits, 0), dim=1)
    torch.testing.assert_close(fused, direct, rtol=1e-10, atol=1e-8)
    # A weighted sum, so every point's gradient is scaled differently.
    weights = torch.rand(300, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    for a, b in zip(torch.autograd.grad((fused * weights).sum(), parameters), torch.autograd.grad((direct * weights).sum(), parameters)):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


def test_fused_log_sum_exp_passes_gradcheck() -> None:
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(6, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    coefficients = torch.randn(5, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    offsets = torch.randn(5, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_MixtureLogSumExp.apply, (features, coefficients, offsets))
