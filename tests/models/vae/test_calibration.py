"""The decoder-noise calibration: the kernel against direct estimates and a closed form, and the
model's calibration against probabilistic PCA's maximum-likelihood noise."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.vae.bounds import diagonal_normal_log_prob, importance_weighted_bound
from pushforward.models.vae.calibration import TOLERANCE, best_log_scale, estimate_at_log_scale
from pushforward.models.vae.model import CALIBRATION_CHUNK
from tests.conftest import forget_setting
from tests.models.vae.test_model import _exact_posterior, _linear_gaussian, _ppca_log_prob, small_vae


def random_weights(k: int, n: int, d: int, seed: int = 0):
    """Decoder means and log-σ, data, and log p(z) − log q(z|x) for ``k`` draws of ``n`` points."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    mean = x + 0.3 * torch.randn(k, n, d, generator=generator, dtype=torch.float64)
    log_scale = -1.0 + 0.2 * torch.randn(k, n, d, generator=generator, dtype=torch.float64)
    prior_minus_posterior = torch.randn(k, n, generator=generator, dtype=torch.float64)
    return x, mean, log_scale, prior_minus_posterior


def kernel_terms(x, mean, log_scale, prior_minus_posterior):
    squares = 0.5 * ((x - mean) * torch.exp(-log_scale)).square().sum(dim=-1)
    base = (-log_scale - 0.5 * math.log(2 * math.pi)).sum(dim=-1) + prior_minus_posterior
    return base, squares


@pytest.mark.parametrize("scale", [0.3, 0.8, 1.0, 2.5])
def test_the_kernel_is_the_importance_weighted_estimate_with_sigma_scaled(scale):
    x, mean, log_scale, prior_minus_posterior = random_weights(k=7, n=50, d=3)
    k, n, d = mean.shape
    direct = diagonal_normal_log_prob(
        x.expand(k, n, d).reshape(k * n, d), mean.reshape(k * n, d), (log_scale + math.log(scale)).reshape(k * n, d)
    ).view(k, n)
    expected = importance_weighted_bound(direct + prior_minus_posterior).mean()
    base, squares = kernel_terms(x, mean, log_scale, prior_minus_posterior)
    torch.testing.assert_close(estimate_at_log_scale(base, squares, d, math.log(scale)), expected)


@pytest.mark.parametrize("spread", [0.3, 1.0, 2.2])
def test_with_one_draw_the_best_scale_is_the_closed_form_one(spread):
    # With K = 1 the estimate is the mean of base − D·u − S·e^{−2u}, highest at e^{2u} = 2·mean(S)/D.
    x, mean, log_scale, prior_minus_posterior = random_weights(k=1, n=400, d=2, seed=3)
    base, squares = kernel_terms(x, x + spread * (mean - x), log_scale, prior_minus_posterior)
    expected = 0.5 * math.log(2 * float(squares.mean()) / 2)
    found, gain = best_log_scale(base, squares, 2)
    assert abs(found - expected) <= TOLERANCE
    assert gain == pytest.approx(float(estimate_at_log_scale(base, squares, 2, found) - estimate_at_log_scale(base, squares, 2, 0.0)))
    assert gain >= 0


def test_the_models_terms_give_its_own_estimate_at_every_scale():
    model = small_vae(eval_samples=16)
    x = torch.randn(40, 2, dtype=torch.float64)
    with torch.no_grad():
        base, squares = model.calibration_terms(x, 16, torch.Generator().manual_seed(4))
        for scale in (0.5, 1.0, 1.7):
            model.decoder_likelihood.log_noise_scale.fill_(math.log(scale))
            estimate = model.log_prob(x, generator=torch.Generator().manual_seed(4)).mean()
            torch.testing.assert_close(estimate_at_log_scale(base, squares, 2, math.log(scale)), estimate)


def test_calibration_finds_the_maximum_likelihood_noise_of_probabilistic_pca():
    """Data from PPCA with noise 0.5 (Tipping & Bishop, JRSS-B 1999); the model is that PPCA with
    its decoder σ set to 0.9, and q the exact posterior of the PPCA with noise 0.5 (so the
    estimate is accurate near the optimum, not only at c = 1). The scale must bring σ to the
    noise that maximises the data's exact likelihood, found here by a grid on the closed form."""
    model = small_vae(hidden_layers=0, decoder_features=0, posterior="full")
    weight = torch.tensor([[1.2, 0.3], [-0.4, 0.8]], dtype=torch.float64)
    bias = torch.tensor([0.5, -1.0], dtype=torch.float64)
    generator = torch.Generator().manual_seed(5)
    data = torch.randn(4000, 2, generator=generator, dtype=torch.float64) @ weight.T + bias
    data += 0.5 * torch.randn(4000, 2, generator=generator, dtype=torch.float64)
    wrong = 0.9
    _linear_gaussian(model, weight, bias, wrong)
    gain, covariance = _exact_posterior(weight, bias, 0.5)
    factor = torch.linalg.cholesky(covariance)
    encoder = model.encoder.net[-1]
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.weight[:2] = gain
        encoder.bias.copy_(torch.cat([-gain @ bias, torch.log(torch.diagonal(factor)), factor[1, :1]]))
        model.finish_training(data)
    noises = torch.arange(0.30, 0.80, 0.001, dtype=torch.float64)
    likelihoods = torch.stack([_ppca_log_prob(data, weight, bias, float(noise)).mean() for noise in noises])
    best = float(noises[likelihoods.argmax()])
    calibrated = wrong * math.exp(float(model.decoder_likelihood.log_noise_scale))

    def exact(noise: float) -> float:
        return float(_ppca_log_prob(data, weight, bias, noise).mean())

    # The likelihood is flat near its top (0.465 and 0.479 differ by 6e-5 nats a point, below the
    # K = 100 estimate's Monte-Carlo error), so the check is in nats: the calibrated noise is as
    # likely as the best to 1e-3, where σ = 0.9 was 0.065 nats a point worse.
    assert exact(calibrated) > exact(best) - 1e-3
    assert exact(wrong) < exact(best) - 0.05
    assert abs(calibrated - best) < 0.03
    assert abs(best - 0.5) < 0.05  # the data's noise, up to the sample's error
    assert model.sampling_facts() == {"decoder_noise_scale": round(calibrated / wrong, 4), "decoder_noise_scale_points": 4000}


def test_under_a_time_budget_the_calibration_keeps_to_one_chunk_when_time_is_short():
    model = small_vae()
    validation = torch.randn(3 * CALIBRATION_CHUNK, 2, dtype=torch.float64) * 0.7
    with torch.no_grad():
        model.finish_training(validation, seconds=0.0)
        short = float(model.decoder_likelihood.log_noise_scale)
        assert model.sampling_facts()["decoder_noise_scale_points"] == CALIBRATION_CHUNK
        model.finish_training(validation[:CALIBRATION_CHUNK])
        one_chunk = float(model.decoder_likelihood.log_noise_scale)
        model.finish_training(validation)
        everything = float(model.decoder_likelihood.log_noise_scale)
    assert short == one_chunk
    assert everything != one_chunk


def test_no_calibration_when_switched_off_or_for_a_bernoulli_decoder():
    validation = torch.randn(200, 2, dtype=torch.float64)
    off = small_vae(calibrate_noise=False)
    with torch.no_grad():
        off.finish_training(validation)
    assert float(off.decoder_likelihood.log_noise_scale) == 0.0
    assert off.finish_time_share() == 0.0
    binary = small_vae(decoder="bernoulli")
    with torch.no_grad():
        binary.finish_training((validation > 0).double())
    assert binary.sampling_facts() == {}
    assert binary.finish_time_share() == 0.0


def test_the_scale_is_saved_and_old_runs_load_without_one(tmp_path):
    import pushforward as pf

    tiny = {"hidden_features": "8", "hidden_layers": "1", "prior_components": "4", "eval_samples": "4"}
    run = pf.fit("checkerboard", model="vae", steps=3, seed=1, out=tmp_path / "run", settings=tiny, figures=False)
    scale = run.model.sampling_facts()["decoder_noise_scale"]
    assert scale != 1.0  # three steps leave σ far from what the validation likelihood wants
    again = pf.load(run.run.path)
    assert again.model.sampling_facts()["decoder_noise_scale"] == scale
    # Weights saved before the calibration existed: no buffer, and the setting off.
    state = {key: value for key, value in run.model.state_dict().items() if not key.endswith(("log_noise_scale", "noise_scale_points"))}
    again.model.load_state_dict(state)
    assert again.model.sampling_facts() == {"decoder_noise_scale": 1.0, "decoder_noise_scale_points": 0}
    forget_setting(run.run.path, "calibrate_noise")
    assert pf.load(run.run.path).model.hparams.calibrate_noise is False


def test_a_resumed_run_trains_and_validates_at_scale_one_and_is_calibrated_again(tmp_path, monkeypatch):
    import pushforward as pf
    from pushforward.models.vae.model import VAE

    tiny = {"hidden_features": "8", "hidden_layers": "1", "prior_components": "4", "eval_samples": "4"}
    run = pf.fit("checkerboard", model="vae", steps=3, seed=1, out=tmp_path / "run", settings=tiny, figures=False)
    first = run.model.sampling_facts()["decoder_noise_scale"]
    assert first != 1.0
    seen = []
    original = VAE.validation_score

    def recording(self, x):
        seen.append(float(self.decoder_likelihood.log_noise_scale))
        return original(self, x)

    monkeypatch.setattr(VAE, "validation_score", recording)
    again = pf.fit("checkerboard", model="vae", steps=6, out=tmp_path / "run", resume=True, figures=False)
    assert seen and all(value == 0.0 for value in seen)
    assert again.model.sampling_facts()["decoder_noise_scale_points"] == 4096
    assert again.model.sampling_facts()["decoder_noise_scale"] != 1.0
