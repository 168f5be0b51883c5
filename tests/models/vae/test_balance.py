"""The warm-up's balanced reconstruction term: exact log-likelihood at evenness 0, every value at
the batch's mean precision at evenness 1, the total precision kept in between."""

import pytest
import torch

from pushforward.models.vae.balance import balanced_normal_log_prob, even_precision_weights
from pushforward.models.vae.bounds import diagonal_normal_log_prob


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    mean = torch.randn(64, 3, generator=generator, dtype=torch.float64).requires_grad_()
    # σ from 0.02 to 3: the spread a decoder has when it has learned one value and not another.
    log_scale = torch.empty(64, 3, dtype=torch.float64).uniform_(-4.0, 1.1, generator=generator).requires_grad_()
    return x, mean, log_scale


def gradients(value, *inputs):
    return torch.autograd.grad(value.sum(), inputs)


def test_at_evenness_zero_it_is_the_gaussian_log_likelihood_with_its_gradients():
    x, mean, log_scale = batch()
    balanced = balanced_normal_log_prob(x, mean, log_scale, 0.0)
    exact = diagonal_normal_log_prob(x, mean, log_scale)
    torch.testing.assert_close(balanced, exact, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(gradients(balanced, mean, log_scale), gradients(exact, mean, log_scale)):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_at_evenness_one_every_value_gets_the_batchs_mean_precision():
    x, mean, log_scale = batch(1)
    (grad_mean,) = gradients(balanced_normal_log_prob(x, mean, log_scale, 1.0), mean)
    mean_precision = torch.exp(-2.0 * log_scale.detach()).mean()
    # d/dμ of w·log N(x; μ, σ²) is w (x − μ)/σ²: the same precision for every value.
    torch.testing.assert_close(grad_mean, (x - mean.detach()) * mean_precision, rtol=1e-12, atol=1e-12)
    # ... where the plain likelihood's precisions span the 2,000-fold range of σ².
    (plain,) = gradients(diagonal_normal_log_prob(x, mean, log_scale), mean)
    ratio = plain / grad_mean
    assert float(ratio.max() / ratio.min()) > 1000.0


@pytest.mark.parametrize("evenness", [0.0, 0.3, 0.7, 1.0])
def test_the_total_precision_is_kept_and_the_weights_carry_no_gradient(evenness):
    _, _, log_scale = batch(2)
    weights = even_precision_weights(log_scale, evenness)
    assert not weights.requires_grad and (weights > 0).all()
    precision = torch.exp(-2.0 * log_scale.detach())
    torch.testing.assert_close((weights * precision).sum(), precision.sum(), rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("evenness", [0.0, 0.5, 1.0])
def test_each_scale_still_moves_to_its_own_error(evenness):
    # With the weights held, d/d log σ of w·log N is w (r²/σ² − 1): zero exactly where σ = |r|,
    # as for the plain likelihood, so the balancing leaves what σ learns alone.
    x, mean, log_scale = batch(3)
    residual = (x - mean.detach()).abs()
    at_error = residual.log().requires_grad_()
    (grad_scale,) = gradients(balanced_normal_log_prob(x, mean.detach(), at_error, evenness), at_error)
    torch.testing.assert_close(grad_scale, torch.zeros_like(grad_scale), rtol=0.0, atol=1e-9)
    (off,) = gradients(balanced_normal_log_prob(x, mean.detach(), log_scale, evenness), log_scale)
    assert (off.abs() > 1e-6).all()


@pytest.mark.parametrize("evenness", [-0.1, 1.5, float("nan")])
def test_an_evenness_outside_zero_to_one_is_refused(evenness):
    _, _, log_scale = batch()
    with pytest.raises(ValueError, match="evenness"):
        even_precision_weights(log_scale, evenness)
