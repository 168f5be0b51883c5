"""The VAE: bounds in the right order, the estimate on a linear-Gaussian model, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from tests.conftest import forget_setting, setting_before_and_after_forgetting


def small_vae(**options):
    torch.manual_seed(0)
    settings = dict(latent_features=2, hidden_features=16, hidden_layers=1, prior="normal")
    settings.update(options)
    return create("vae", (2,), **settings).double().eval()


def bound_estimates(model, x, k: int, repeats: int) -> torch.Tensor:
    """``repeats`` independent K-sample importance-weighted bounds, averaged over the points."""
    values = []
    for _ in range(repeats):
        log_likelihood, log_prior, log_posterior = model.log_weights(x, k)
        values.append(torch.logsumexp(log_likelihood + log_prior - log_posterior, dim=0).mean() - math.log(k))
    return torch.stack(values)


@pytest.mark.parametrize("posterior", ["diagonal", "full", "flow"])
def test_elbo_below_iwae_bound_which_rises_with_k(posterior):
    # An untrained model has a poor posterior, so the gaps between the bounds are wide.
    model = small_vae(posterior=posterior)
    x = torch.randn(64, 2, dtype=torch.float64)
    with torch.no_grad():
        torch.manual_seed(1)
        elbo = torch.stack([model.bound(x).mean() for _ in range(400)])
        means, errors = [], []
        for k in (1, 5, 50):
            values = bound_estimates(model, x, k, 200)
            means.append(float(values.mean()))
            errors.append(float(values.std() / math.sqrt(len(values))))
    # IWAE with K = 1 is the ELBO in expectation.
    assert abs(means[0] - float(elbo.mean())) < 4 * math.hypot(errors[0], float(elbo.std() / 20))
    # Strictly rising with K, by far more than the Monte-Carlo error.
    assert means[1] > means[0] + 5 * math.hypot(errors[0], errors[1])
    assert means[2] > means[1] + 5 * math.hypot(errors[1], errors[2])


def _linear_gaussian(model, weight: torch.Tensor, bias: torch.Tensor, noise: float) -> None:
    """Make ``model`` the probabilistic PCA model x = W z + b + noise·ε with a linear encoder."""
    decoder = model.decoder.net[-1]
    with torch.no_grad():
        decoder.weight.zero_()
        decoder.weight[:2] = weight
        decoder.bias[:2] = bias
        decoder.bias[2:] = model.decoder_likelihood.raw_scale(noise)


def _ppca_log_prob(x, weight, bias, noise):
    covariance = weight @ weight.T + noise**2 * torch.eye(2, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(bias, covariance).log_prob(x)


def _exact_posterior(weight, bias, noise):
    """q(z|x) = p(z|x) for PPCA: covariance Σ = (I + WᵀW/σ²)⁻¹, mean Σ Wᵀ (x − b)/σ²."""
    covariance = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + weight.T @ weight / noise**2)
    gain = covariance @ weight.T / noise**2
    return gain, covariance


# A 1-D PPCA model, whose exact posterior is a 1-D (so diagonal) Gaussian.
PPCA_1D_WEIGHT = torch.tensor([[1.5], [-0.7]], dtype=torch.float64)
PPCA_1D_BIAS = torch.tensor([0.2, 0.1], dtype=torch.float64)
PPCA_1D_NOISE = 0.4


def one_dimensional_ppca(shift: float = 0.0, **options):
    """A VAE that is the 1-D PPCA model above, its encoder giving the exact posterior's variance
    and its mean plus ``shift``; with that posterior's precision (1/variance)."""
    weight, bias, noise = PPCA_1D_WEIGHT, PPCA_1D_BIAS, PPCA_1D_NOISE
    model = small_vae(latent_features=1, hidden_layers=0, decoder_features=0, **options)
    _linear_gaussian(model, weight, bias, noise)
    precision = 1 + float(weight.T @ weight) / noise**2
    gain = (weight.T / noise**2) / precision
    encoder = model.encoder.net[-1]
    with torch.no_grad():
        encoder.weight.copy_(torch.cat([gain, torch.zeros_like(gain)]))
        encoder.bias.copy_(torch.tensor([float(-gain @ bias) + shift, -0.5 * math.log(precision)], dtype=torch.float64))
    return model, precision


def test_estimate_matches_probabilistic_pca_closed_form():
    """Tipping & Bishop, "Probabilistic Principal Component Analysis", JRSS-B 1999."""
    # decoder_features=0: PPCA needs a decoder linear in z (no Fourier features of z).
    model = small_vae(hidden_layers=0, eval_samples=2000, decoder_features=0)
    weight = torch.tensor([[1.2, 0.3], [-0.4, 0.8]], dtype=torch.float64)
    bias = torch.tensor([0.5, -1.0], dtype=torch.float64)
    noise = 0.5
    _linear_gaussian(model, weight, bias, noise)
    gain, covariance = _exact_posterior(weight, bias, noise)
    x = torch.randn(200, 2, dtype=torch.float64) * 1.5
    exact = _ppca_log_prob(x, weight, bias, noise)
    encoder = model.encoder.net[-1]
    with torch.no_grad():
        # A deliberately imperfect posterior: the exact mean shifted, the exact marginal
        # variances inflated 2.2-fold (wider than the truth, so the weights stay bounded).
        encoder.weight.zero_()
        encoder.weight[:2] = gain
        encoder.bias[:2] = -gain @ bias + 0.2
        encoder.bias[2:] = 0.5 * torch.log(torch.diagonal(covariance)) + 0.4
        torch.manual_seed(2)
        estimate = model.log_prob(x)
        # The estimate's own Monte-Carlo error, from an independent set of K weights (delta
        # method: sd of log mean w ≈ sd(w) / (√K mean w)).
        log_likelihood, log_prior, log_posterior = model.log_weights(x, 2000)
        weights = torch.exp(log_likelihood + log_prior - log_posterior - exact)
        standard_error = weights.std(dim=0) / (math.sqrt(2000) * weights.mean(dim=0))
        elbo = model.bound(x, beta=1.0)
    difference = estimate - exact
    assert (difference.abs() < 5 * standard_error).all()
    assert abs(float(difference.mean())) < 4 * float(standard_error.square().sum().sqrt()) / len(x)
    # The ELBO with this posterior is far lower: the importance weighting is doing the work.
    assert (exact - elbo).mean() > 0.1


def test_estimate_is_exact_with_the_exact_posterior_in_one_dimension():
    # With a 1-D latent the exact PPCA posterior is a (diagonal) Gaussian: every weight equals p(x).
    model, _ = one_dimensional_ppca(eval_samples=3)
    with torch.no_grad():
        x = torch.randn(50, 2, dtype=torch.float64)
        exact = _ppca_log_prob(x, PPCA_1D_WEIGHT, PPCA_1D_BIAS, PPCA_1D_NOISE)
        torch.testing.assert_close(model.log_prob(x), exact, rtol=0, atol=1e-10)


def test_estimate_is_exact_with_the_exact_full_covariance_posterior():
    # With a 2-D latent the exact PPCA posterior is a correlated Gaussian: a full-covariance q
    # represents it exactly (a diagonal one cannot), so every importance weight equals p(x).
    model = small_vae(hidden_layers=0, eval_samples=3, decoder_features=0, posterior="full")
    weight = torch.tensor([[1.2, 0.9], [-0.4, 0.8]], dtype=torch.float64)
    bias = torch.tensor([0.5, -1.0], dtype=torch.float64)
    noise = 0.3
    _linear_gaussian(model, weight, bias, noise)
    gain, covariance = _exact_posterior(weight, bias, noise)
    factor = torch.linalg.cholesky(covariance)
    assert abs(float(factor[1, 0])) > 0.01  # the exact posterior is really correlated
    encoder = model.encoder.net[-1]
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.weight[:2] = gain
        encoder.bias.copy_(torch.cat([-gain @ bias, torch.log(torch.diagonal(factor)), factor[1, :1]]))
        x = torch.randn(50, 2, dtype=torch.float64)
        exact = _ppca_log_prob(x, weight, bias, noise)
        torch.testing.assert_close(model.log_prob(x), exact, rtol=0, atol=1e-10)
        torch.testing.assert_close(model.bound(x, beta=1.0), exact, rtol=0, atol=1e-10)


def test_samples_and_decoder_means_have_the_event_shape():
    model = small_vae(prior="mixture", prior_components=4)
    generator = torch.Generator().manual_seed(0)
    assert model.sample(10, generator).shape == (10, 2)
    means = model.sample(10, torch.Generator().manual_seed(0), mean=True)
    again = model.sample(10, torch.Generator().manual_seed(0), mean=True)
    torch.testing.assert_close(means, again)
    assert model.encode(torch.zeros(3, 2, dtype=torch.float64)).shape == (3, 2)
    assert model.reconstruct(torch.zeros(3, 2, dtype=torch.float64)).shape == (3, 2)


def test_bernoulli_decoder_gives_probabilities_of_binary_data():
    torch.manual_seed(0)
    model = create("vae", (5,), decoder="bernoulli", hidden_features=8, eval_samples=10).eval()
    x = (torch.rand(20, 5) > 0.5).float()
    log_p = model.log_prob(x)
    assert torch.isfinite(log_p).all() and (log_p < 0).all()
    assert set(model.sample(50).unique().tolist()) <= {0.0, 1.0}


def test_kl_warmup_raises_beta_linearly():
    model = small_vae(kl_warmup=4, beta=2.0).train()
    x = torch.randn(8, 2, dtype=torch.float64)
    betas = []
    for _ in range(6):
        betas.append(float(model.objective(x, "model")["beta"]))
        model.after_step("model")
    assert betas == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]


def test_kl_warmup_counts_the_learning_rate_warmups_steps_by_their_rate():
    # Steps at half the full rate (as in the trainer's warm-up) count half: the code gets the
    # same amount of learning before the KL weight rises, whatever the schedule.
    model = small_vae(kl_warmup=8).train()
    for _ in range(4):
        model.after_step("model", 0.5)
    assert model.kl_weight() == pytest.approx(0.25)
    # Once the rate has peaked, steps count whole while it decays: a short run still gets to β.
    model.after_step("model", 1.0)
    for _ in range(3):
        model.after_step("model", 0.1)
    assert model.kl_weight() == pytest.approx(0.75)
    model.after_step("model", 0.01)
    model.after_step("model", 0.01)
    assert model.kl_weight() == 1.0


def test_the_reconstruction_is_balanced_during_the_kl_warmup_and_the_elbo_after_it():
    model = small_vae(kl_warmup=4).train()
    evenness = []
    for _ in range(6):
        evenness.append(float(model.objective(torch.zeros(1, 2, dtype=torch.float64), "model")["evenness"]))
        model.after_step("model")
    assert evenness == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    # After the warm-up the objective is the β-ELBO itself; during it, not.
    x = torch.randn(32, 2, dtype=torch.float64)
    torch.manual_seed(5)
    after = model.objective(x, "model")["loss"]
    torch.manual_seed(5)
    elbo = model.bound(x, beta=1.0).mean()
    torch.testing.assert_close(after, -elbo, rtol=1e-12, atol=1e-12)
    model.updates.zero_()
    torch.manual_seed(5)
    during = model.objective(x, "model")["loss"]
    torch.manual_seed(5)
    unbalanced = -model.bound(x, beta=0.0).mean()
    assert abs(float((during - unbalanced).detach())) > 1e-3


@pytest.mark.parametrize(
    "settings",
    [{"balance_warmup": False}, {"kl_warmup": 0}, {"objective": "iwae"}, {"decoder": "bernoulli"}],
)
def test_without_a_balanced_warmup_the_objective_is_the_bound_from_the_start(settings):
    model = small_vae(**settings).train()
    assert model.reconstruction_evenness() == 0.0
    x = (torch.rand(16, 2, dtype=torch.float64) > 0.5).double()
    torch.manual_seed(3)
    loss = model.objective(x, "model")["loss"]
    torch.manual_seed(3)
    torch.testing.assert_close(loss, -model.bound(x, beta=model.kl_weight()).mean(), rtol=1e-12, atol=1e-12)


def test_validation_scores_the_bound_whatever_the_warmups_state():
    model = small_vae(kl_warmup=10)
    x = torch.randn(64, 2, dtype=torch.float64)
    during = model.validation_score(x)
    model.updates.fill_(10.0)
    assert model.validation_score(x) == during


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"balance_warmup": True, "objective": "iwae"}, "objective is iwae"),
        ({"balance_warmup": False, "kl_warmup": 0}, "kl_warmup is 0"),
        ({"balance_warmup": True, "decoder": "bernoulli"}, "decoder is bernoulli"),
    ],
)
def test_balance_warmup_is_refused_where_it_would_change_nothing(settings, named):
    with pytest.raises(UserError, match=named):
        create("vae", (2,), **settings)


def test_a_run_saved_before_the_balanced_warmup_resumes_without_it(tmp_path):
    tiny = {"hidden_features": "8", "hidden_layers": "1", "prior_components": "4", "eval_samples": "4"}
    assert setting_before_and_after_forgetting("vae", "balance_warmup", tiny, tmp_path) == (True, False)


def test_a_run_saved_with_whole_step_counts_loads_and_continues_its_warmup():
    # Before the count was weighted by the learning rate it was an integer buffer.
    model = small_vae(kl_warmup=1000)
    state = model.state_dict()
    state["updates"] = torch.tensor(250, dtype=torch.long)
    model.load_state_dict(state)
    assert model.kl_weight() == pytest.approx(0.25)


@pytest.mark.parametrize(
    "settings",
    [
        {"latent_features": 0},
        {"eval_samples": 0},
        {"train_samples": 0},
        {"objective": "iwae", "beta": 0.5},
        {"min_scale": 0},
        {"posterior": "planar"},
    ],
)
def test_bad_settings_are_user_errors(settings):
    with pytest.raises(UserError):
        create("vae", (2,), **settings)


def test_k_below_one_is_a_user_error():
    with pytest.raises(UserError, match="K"):
        small_vae().log_prob(torch.zeros(2, 2, dtype=torch.float64), samples=0)


def test_iwae_warmup_tempers_the_weights_and_ends_at_the_iwae_bound():
    torch.manual_seed(0)
    model = create("iwae", (2,), hidden_features=16, hidden_layers=1, prior="normal", kl_warmup=10).double().eval()
    x = torch.randn(32, 2, dtype=torch.float64)
    with torch.no_grad():
        full = model.bound(x, torch.Generator().manual_seed(3), beta=1.0)
        log_likelihood, log_prior, log_posterior = model.log_weights(x, 8, torch.Generator().manual_seed(3))
        torch.testing.assert_close(full, torch.logsumexp(log_likelihood + log_prior - log_posterior, 0) - math.log(8))
        tempered = model.bound(x, torch.Generator().manual_seed(3), beta=0.0)
        torch.testing.assert_close(tempered, torch.logsumexp(log_likelihood, 0) - math.log(8))


def test_a_run_saved_before_the_posterior_setting_existed_loads_with_a_diagonal_posterior(tmp_path):
    import numpy as np

    import pushforward as pf

    tiny = {"hidden_features": "8", "hidden_layers": "1", "prior_components": "4", "eval_samples": "4", "posterior": "diagonal"}
    run = pf.fit("checkerboard", model="vae", steps=3, seed=1, out=tmp_path / "old", settings=tiny, figures=False)
    forget_setting(run.run.path, "posterior")
    again = pf.load(run.run.path)
    assert again.model.hparams.posterior == "diagonal"
    x = run.dataset().test[:50]
    np.testing.assert_array_equal(again.model.encode(torch.as_tensor(x)), run.model.encode(torch.as_tensor(x)))


def test_a_flow_posterior_is_saved_and_loaded_with_the_model(tmp_path):
    import pushforward as pf

    tiny = {"hidden_features": "8", "hidden_layers": "1", "prior_components": "4", "eval_samples": "4", "posterior": "flow"}
    run = pf.fit("checkerboard", model="vae", steps=3, seed=1, out=tmp_path / "flow", settings=tiny, figures=False)
    again = pf.load(run.run.path)
    x = torch.as_tensor(run.dataset().test[:20])
    raw = run.model.posterior(x)
    z = torch.randn(20, 2)
    # The couplings' output layers start at zero; three steps move them, so the load has something to restore.
    assert all(coupling.net[-1].weight.abs().sum() > 0 for coupling in again.model.variational.couplings)
    with torch.no_grad():
        torch.testing.assert_close(again.model.variational.log_prob(again.model.posterior(x), z), run.model.variational.log_prob(raw, z))


def test_diagnostics_count_the_directions_the_encoder_uses():
    from pushforward.metrics.latent import latent_activity

    model = small_vae(hidden_features=32)
    x = torch.randn(3000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        last = model.encoder.net[-1]
        last.weight.mul_(20.0)  # an encoder whose posterior means spread over both directions
    report = model.diagnostics(x)
    reference = latent_activity(model.encode(x))
    assert report == {"active_latent_dimensions": reference.active, "latent_dimensions": 2,
                      "latent_mean_variances": list(reference.variances)}
    assert report["active_latent_dimensions"] == 2
    # Collapse the second posterior mean onto a constant: one direction left.
    with torch.no_grad():
        last.weight[1].zero_()
        last.bias[1] = 0.3
    assert model.diagnostics(x)["active_latent_dimensions"] == 1


def test_a_collapsed_direction_is_warned_about_and_a_healthy_encoder_is_not():
    model = small_vae(hidden_features=32)
    model.updates.fill_(model.hparams.kl_warmup)  # trained past its KL warm-up
    x = torch.randn(3000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    last = model.encoder.net[-1]
    with torch.no_grad():
        last.weight.mul_(20.0)
    assert model.warnings(model.diagnostics(x)) == []
    with torch.no_grad():
        last.weight[1].zero_()
        last.bias[1] = 0.3
    (message,) = model.warnings(model.diagnostics(x))
    assert "1 of 2 latent dimensions" in message and "--set kl_warmup=" in message and "\n" not in message


def test_no_collapse_warning_when_the_latent_space_is_larger_than_the_data():
    # A 3-D latent for 2-D data needs only 2 directions: one left on the prior is no collapse.
    model = small_vae(hidden_features=32, latent_features=3)
    model.updates.fill_(model.hparams.kl_warmup)  # trained past its KL warm-up
    x = torch.randn(3000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    last = model.encoder.net[-1]
    with torch.no_grad():
        last.weight.mul_(20.0)
        last.weight[2].zero_()
    assert model.diagnostics(x)["active_latent_dimensions"] == 2
    assert model.warnings(model.diagnostics(x)) == []


def test_the_latent_space_has_the_datas_dimension_unless_set():
    assert create("vae", (1,)).latent_features == 1
    assert create("vae", (10,)).latent_features == 10
    assert create("vae", (10,), latent_features=3).latent_features == 3
    with pytest.raises(UserError, match="latent_features must be set"):
        create("vae", (1, 8, 8))


def test_weights_from_inside_the_kl_warmup_are_warned_about_instead_of_collapse():
    model = small_vae(hidden_features=32)
    x = torch.randn(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model.updates.fill_(120)
    (message,) = model.warnings(model.diagnostics(x))
    assert "inside the KL warm-up (120 of its 1000 steps)" in message and "\n" not in message
    model.updates.fill_(1000)
    assert all("inside the KL warm-up" not in warning for warning in model.warnings(model.diagnostics(x)))
    assert all("inside the KL warm-up" not in warning for warning in small_vae(kl_warmup=0).warnings(model.diagnostics(x)))


def test_antithetic_draws_are_opposite_about_the_posterior_mean():
    model = small_vae(train_samples=2)
    x = torch.randn(16, 2, dtype=torch.float64)
    z, _, _, _ = model.posterior_draws(x, 2, antithetic=True)
    mean = model.variational.mean(model.posterior(x))
    assert torch.allclose(z.view(2, 16, 2).sum(dim=0), 2 * mean, rtol=0, atol=1e-12)


def test_antithetic_pairs_cancel_the_part_of_the_elbo_odd_in_the_noise():
    # PPCA with a 1-D latent and a posterior of the exact variance v but a mean shifted by δ:
    # log w(z) = log p(x) + log p(z|x) − log q(z|x) is linear in z, so a pair ε, −ε averages to
    # the ELBO itself, log p(x) − δ²/(2v), at every draw; independent draws scatter about it.
    shift = 0.3
    x = torch.randn(50, 2, dtype=torch.float64)
    estimates = {}
    for antithetic in (True, False):
        model, precision = one_dimensional_ppca(shift, train_samples=2, antithetic=antithetic)
        with torch.no_grad():
            estimates[antithetic] = torch.stack([model.bound(x, beta=1.0) for _ in range(200)])
    elbo = _ppca_log_prob(x, PPCA_1D_WEIGHT, PPCA_1D_BIAS, PPCA_1D_NOISE) - 0.5 * shift**2 * precision
    torch.testing.assert_close(estimates[True], elbo.expand(200, -1), rtol=0, atol=1e-10)
    spread = estimates[False] - elbo
    assert float(spread.abs().mean()) > 0.1  # the same draws unpaired: the odd part remains
    assert abs(float(spread.mean())) < 4 * float(spread.std()) / math.sqrt(spread.numel())  # around the same ELBO


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"antithetic": True, "objective": "iwae", "train_samples": 2}, "objective is iwae"),
        ({"antithetic": True, "train_samples": 3}, "train_samples is 3"),
    ],
)
def test_antithetic_draws_are_refused_where_they_would_change_nothing(settings, named):
    with pytest.raises(UserError, match=named):
        create("vae", (2,), **settings)


def test_a_run_saved_before_antithetic_draws_resumes_without_them(tmp_path):
    tiny = {"hidden_features": "8", "hidden_layers": "1", "prior_components": "4", "eval_samples": "4", "train_samples": "2"}
    assert setting_before_and_after_forgetting("vae", "antithetic", tiny, tmp_path) == (True, False)
