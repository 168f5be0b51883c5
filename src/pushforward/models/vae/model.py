"""The variational autoencoder behind the common interface: ``vae`` (β-ELBO) and ``iwae``.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; Rezende, Mohamed, Wierstra,
"Stochastic Backpropagation and Approximate Inference in Deep Generative Models", ICML 2014;
Burda, Grosse, Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.

The pushforward view: z ~ p(z), x = decoder(z) + noise. ``log_prob`` is not exact: it is the
importance-weighted estimate ``log (1/K) Σ_k p(x, z_k) / q(z_k|x)``, z_k ~ q(z|x), with
``K = eval_samples`` — a stochastic lower bound in expectation that tightens as K grows, hence
``likelihood = "estimate"``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from pushforward.errors import UserError
from pushforward.unread_settings import ReadOnlyIf, RefusesUnreadSettings
from pushforward.metrics.latent import latent_activity
from pushforward.models.base import COSTLY_DENSITY_GRID, VALIDATION_CHUNK, GenerativeModel, LikelihoodKind, in_row_chunks, precise_mean, register
from pushforward.models.vae.bounds import LOG_2PI, RunningLogMeanExp, beta_elbo, importance_weighted_bound
from pushforward.models.vae.calibration import best_log_scale
from pushforward.models.vae.likelihoods import DecoderLikelihood, GaussianLikelihood, make_likelihood
from pushforward.models.vae.networks import mlp_decoder, mlp_encoder
from pushforward.models.vae.noise import posterior_noise
from pushforward.models.vae.posteriors import POSTERIORS, GaussianPosterior, make_posterior
from pushforward.models.vae.priors import MixturePrior, StandardNormalPrior
from pushforward.nn.mlp import ACTIVATIONS, Activation

# Rows (latent samples × points) pushed through the decoder at once when estimating log p(x).
ESTIMATE_ROWS = 1 << 18
# The decoder-noise calibration (VAE.finish_training): the validation points it uses, taken in
# chunks of CALIBRATION_CHUNK, the posterior draws per point, and the share of a time budget
# held back for it. On two checkerboard runs c from 4,096 points × 100 draws was within 0.02 of
# c from 16,384 (0.783 / 0.800 against 0.789; 0.820 / 0.789 against 0.805); 32 draws gave 0.82–0.84,
# as fewer draws make the estimate looser where σ is small.
CALIBRATION_POINTS = 4096
CALIBRATION_CHUNK = 1024
CALIBRATION_SAMPLES = 100
CALIBRATION_SHARE = 0.05


def elbo_with_kl_warmup(hp: VAEHyperparameters) -> bool:
    """The ELBO with a KL warm-up: where ``balance_warmup`` is read (for a Gaussian decoder)."""
    return hp.objective == "elbo" and hp.kl_warmup > 0


def elbo_with_paired_draws(hp: VAEHyperparameters) -> bool:
    """The ELBO with an even ``train_samples``: where ``antithetic`` is read."""
    return hp.objective == "elbo" and hp.train_samples % 2 == 0


@dataclass
class VAEHyperparameters(RefusesUnreadSettings):
    """VAE settings.

    ``latent_features`` is the size of z; none (the default) gives z as many dimensions as the
    data has columns: a 2-D latent on 10-D data squeezed the table through two numbers, and on
    1-D data one of its two directions had nothing to encode and collapsed. ``posterior`` is the family of q(z|x): "diagonal"
    (a diagonal Gaussian), "full" (a full-covariance Gaussian through a Cholesky factor) or
    "flow" (spline couplings on that Gaussian's noise, conditioned on x); see
    :mod:`~pushforward.models.vae.posteriors`. Encoder and decoder are MLPs of ``hidden_layers`` ×
    ``hidden_features``. ``decoder`` is the likelihood p(x|z): "gaussian" (mean and a learned
    per-value standard deviation that depends on z, floored at ``min_scale`` in the
    standardised units) or "bernoulli" (binary data). ``prior`` is "normal" (N(0, I)) or
    "mixture" (a learned mixture of ``prior_components`` Gaussians). ``objective`` is "elbo"
    (weighted by ``beta`` on the KL term) or "iwae" (the importance-weighted bound), each with
    ``train_samples`` posterior draws per point; ``antithetic``: the ELBO's draws come in pairs
    ε, −ε (:mod:`~pushforward.models.vae.noise`), in which the parts of the estimate and of its
    gradient odd in ε cancel. ``eval_samples`` is the K of the log p(x) estimate: on the
    checkerboard the mean estimate with K = 100 is within 0.0005 nats of K = 1000 and 3000
    (below the test set's standard error), at a tenth of the cost.
    ``kl_warmup`` optimizer steps (those of the learning-rate warm-up counted by their fraction
    of the full rate; see :meth:`VAE.kl_weight`) raise the
    KL weight linearly from 0 to ``beta`` (for the IWAE objective, the weight on
    log p(z) − log q(z|x) inside each importance weight, from 0 to 1).
    ``decoder_features`` / ``encoder_features`` random Fourier features of z / x with bandwidth
    ``decoder_scale`` / ``encoder_scale`` go into the decoder / encoder beside their input
    (Tancik et al., "Fourier Features Let Networks Learn High Frequency Functions in Low
    Dimensional Domains", NeurIPS 2020), so the decoder can map z to sharp-edged regions.
    ``calibrate_noise``: when training ends, a Gaussian decoder's σ(z) is multiplied by the one
    scale c that maximises the importance-weighted estimate of log p(x) on the validation split
    (:meth:`VAE.finish_training`); the ELBO leaves σ too wide (c ≈ 0.8 on the checkerboard).
    ``balance_warmup``: during the KL warm-up, a Gaussian decoder's reconstruction precision is
    spread evenly over the data's values, evenly at the start and less so as β rises, the ELBO
    itself from the warm-up's end (:mod:`~pushforward.models.vae.balance`): without it a value
    learned first starves the others, and the latent direction one of them needs can collapse.
    """

    latent_features: int | None = None
    posterior: Literal["diagonal", "full", "flow"] = "diagonal"
    hidden_features: int = 64
    hidden_layers: int = 3
    activation: Activation = "silu"
    decoder: Literal["gaussian", "bernoulli"] = "gaussian"
    min_scale: float = 1e-3
    prior: Literal["normal", "mixture"] = "mixture"
    prior_components: int = 128
    objective: Literal["elbo", "iwae"] = "elbo"
    beta: float = 1.0
    train_samples: int = 2
    eval_samples: int = 100
    kl_warmup: int = 1000
    encoder_features: int = 0
    encoder_scale: float = 1.0
    decoder_features: int = 64
    decoder_scale: float = 1.0
    calibrate_noise: bool = True
    balance_warmup: bool = True
    antithetic: bool = True

    # Runs saved before ``posterior`` existed had a diagonal q, those saved before the
    # calibration existed sampled with σ as trained, and those saved before the balanced warm-up
    # trained without it: ``load`` (and a resume) keeps them so.
    VALUES_BEFORE_THE_SETTING_EXISTED: ClassVar[dict[str, object]] = {
        "posterior": "diagonal",
        "calibrate_noise": False,
        "balance_warmup": False,
        "antithetic": False,
    }

    # Settings read only under another's value (see pushforward.unread_settings).
    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = (
        ReadOnlyIf(("prior_components",), lambda h: h.prior == "mixture", "when prior=mixture", ("prior",), "use --set prior=mixture"),
        ReadOnlyIf(("min_scale", "calibrate_noise", "balance_warmup"), lambda h: h.decoder == "gaussian", "when decoder=gaussian",
                   ("decoder",), "use --set decoder=gaussian"),
        ReadOnlyIf(("balance_warmup",), elbo_with_kl_warmup,
                   "with the ELBO's KL warm-up (objective=elbo, kl_warmup > 0)", ("objective", "kl_warmup"),
                   "use --set objective=elbo and kl_warmup=1000"),
        ReadOnlyIf(("antithetic",), elbo_with_paired_draws,
                   "with the ELBO and an even train_samples (the draws come in pairs)", ("objective", "train_samples"),
                   "use --set objective=elbo and train_samples=2"),
        ReadOnlyIf(("encoder_scale",), lambda h: h.encoder_features > 0, "when encoder_features > 0", ("encoder_features",),
                   "use --set encoder_features=64"),
        ReadOnlyIf(("decoder_scale",), lambda h: h.decoder_features > 0, "when decoder_features > 0", ("decoder_features",),
                   "use --set decoder_features=64"),
    )

    def __post_init__(self) -> None:
        checks = [
            ("latent_features", 1 if self.latent_features is None else self.latent_features, 1,
             "the latent space needs at least one dimension"),
            ("hidden_features", self.hidden_features, 1, ""),
            ("hidden_layers", self.hidden_layers, 0, ""),
            ("prior_components", self.prior_components, 1, ""),
            ("train_samples", self.train_samples, 1, "K counts samples per point"),
            ("eval_samples", self.eval_samples, 1, "K counts samples per point"),
            ("kl_warmup", self.kl_warmup, 0, "a number of optimizer steps"),
            ("encoder_features", self.encoder_features, 0, ""),
            ("decoder_features", self.decoder_features, 0, ""),
        ]
        for name, value, minimum, why in checks:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                reason = f" ({why})" if why else ""
                raise UserError(f"{name} must be an integer >= {minimum}, not {value!r}{reason}", f"use --set {name}=<integer >= {minimum}>")
        if self.posterior not in POSTERIORS:
            raise UserError(f"unknown posterior '{self.posterior}'", f"use --set posterior=<{'|'.join(POSTERIORS)}>")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"unknown activation '{self.activation}'", f"use one of: {', '.join(ACTIVATIONS)}")
        if not 0 < self.min_scale < float("inf"):
            raise UserError(f"min_scale must be positive, not {self.min_scale}", "use --set min_scale=1e-3")
        for name in ("encoder_scale", "decoder_scale"):
            if not 0 < getattr(self, name) < float("inf"):
                raise UserError(f"{name} must be positive, not {getattr(self, name)}", f"use --set {name}=1")
        if not 0 <= self.beta < float("inf"):
            raise UserError(f"beta must be >= 0, not {self.beta}", "use --set beta=1 (the ELBO)")
        if self.objective == "iwae" and self.beta != 1.0:
            raise UserError("beta weights the ELBO's KL term; the IWAE bound has none", "use objective=elbo with beta, or beta=1")


def latent_size(setting: int | None, event_shape: tuple[int, ...]) -> int:
    """z's dimension: the setting, or for vectors (none set) as many as the data's columns."""
    if setting is not None:
        return setting
    if len(event_shape) != 1:
        raise UserError(
            f"latent_features must be set for events of shape {tuple(event_shape)}", "use e.g. --set latent_features=64"
        )
    return event_shape[0]


class VAE(GenerativeModel):
    """Encoder q(z|x) (a Gaussian, diagonal or full covariance), prior p(z), decoder p(x|z)."""

    likelihood: ClassVar[LikelihoodKind] = "estimate"
    density_grid: ClassVar[int] = COSTLY_DENSITY_GRID  # log_prob averages eval_samples draws per point
    hyperparameters_class = VAEHyperparameters
    has_decoder_mean: ClassVar[bool] = True  # sample(..., mean=True) is available

    def __init__(self, event_shape: tuple[int, ...], hparams: VAEHyperparameters) -> None:
        super().__init__(event_shape, hparams)
        hp = hparams
        self.latent_features = latent = latent_size(hp.latent_features, event_shape)
        self.decoder_likelihood: DecoderLikelihood = make_likelihood(hp.decoder, hp.min_scale)
        encoder = mlp_encoder(hp.hidden_features, hp.hidden_layers, hp.activation, hp.encoder_features, hp.encoder_scale)
        decoder = mlp_decoder(hp.hidden_features, hp.hidden_layers, hp.activation, hp.decoder_features, hp.decoder_scale)
        self.variational: GaussianPosterior = make_posterior(hp.posterior, latent)
        self.encoder = encoder(self.event_shape, self.variational.raw_features(latent))
        channels, *rest = self.event_shape
        self.decoder = decoder(latent, (self.decoder_likelihood.parameters_per_value * channels, *rest))
        if hp.prior == "mixture":
            self.prior: nn.Module = MixturePrior(latent, hp.prior_components)
        else:
            self.prior = StandardNormalPrior(latent)
        self.validation_name = f"val_{hp.objective}_nll"
        # Optimizer steps taken, each counted by its learning rate as a fraction of the full
        # rate (see kl_weight); a buffer so a resumed run continues the KL warm-up. Float32, as
        # MPS has no float64 (exact enough: the count only matters up to kl_warmup). Runs saved
        # when it counted whole steps as integers load into it unchanged.
        self.register_buffer("updates", torch.zeros((), dtype=torch.float32))
        # The highest learning-rate factor seen so far (see kl_weight). Not saved: a resumed run
        # starts it again from its first step's factor, which after the warm-up is near 1.
        self.peak_rate_factor = 0.0
        if isinstance(self.decoder_likelihood, GaussianLikelihood):
            # Start the decoder's standard deviation at 1 (the standardised data's scale) rather
            # than wherever the random init puts it: a far-too-small start makes the first
            # reconstruction errors explode.
            last = self.decoder.net[-1]
            with torch.no_grad():
                last.bias[channels:] = self.decoder_likelihood.raw_scale(1.0)

    # -- the pieces ------------------------------------------------------------------------

    def posterior(self, x: Tensor) -> Tensor:
        """The encoder's raw parameters of q(z|x), ``(n, raw_features)``; ``self.variational``
        reads them (mean, scales)."""
        return self.encoder(x)

    def posterior_draws(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, antithetic: bool = False
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``k`` draws z ~ q(z|x) per point, flattened to ``(k·n, latent)``, with ``x`` repeated
        to match, and their ``log p(z)`` and ``log q(z|x)``, each ``(k, n)``. ``antithetic``
        (``k`` even): draws in pairs of opposite noise (:mod:`~pushforward.models.vae.noise`)."""
        n = x.shape[0]
        raw = self.posterior(x)
        noise = posterior_noise(k, n, self.latent_features, generator, x.device, x.dtype, antithetic)
        # log q(z|x) = log N(noise; 0, I) − log|det L| (the reparameterisation's Jacobian).
        z, log_posterior = self.variational.rsample(raw, noise)
        flat_z = z.reshape(k * n, self.latent_features)
        repeated_x = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
        return flat_z, repeated_x, self.prior.log_prob(flat_z).view(k, n), log_posterior

    def log_weights(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, evenness: float = 0.0, antithetic: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``k`` posterior draws per point: ``(log p(x|z), log p(z), log q(z|x))``, each ``(k, n)``.
        With ``evenness`` > 0 the first is the balanced reconstruction term of the warm-up
        (:meth:`reconstruction_evenness`), not log p(x|z); ``antithetic`` as
        :meth:`posterior_draws`."""
        z, repeated_x, log_prior, log_posterior = self.posterior_draws(x, k, generator, antithetic)
        raw = self.decoder(z)
        if evenness > 0:
            assert isinstance(self.decoder_likelihood, GaussianLikelihood)
            log_likelihood = self.decoder_likelihood.balanced_log_prob(repeated_x, raw, evenness)
        else:
            log_likelihood = self.decoder_likelihood.log_prob(repeated_x, raw)
        return log_likelihood.view(k, -1), log_prior, log_posterior

    def bound(
        self, x: Tensor, generator: torch.Generator | None = None, beta: float | None = None, evenness: float = 0.0
    ) -> Tensor:
        """The training bound per point (β-ELBO or IWAE), ``(n,)``; with ``evenness`` > 0 (the
        warm-up's balanced reconstruction) a training objective, not a bound."""
        hp = self.hparams
        log_likelihood, log_prior, log_posterior = self.log_weights(x, hp.train_samples, generator, evenness, self.antithetic_draws)
        beta = hp.beta if beta is None else beta
        if hp.objective == "iwae":
            # During the warm-up the prior-to-posterior ratio of each weight is tempered by β;
            # at β = 1 (after the warm-up, and always for validation) this is the IWAE bound.
            return importance_weighted_bound(log_likelihood + beta * (log_prior - log_posterior))
        return beta_elbo(log_likelihood, log_prior, log_posterior, beta).mean(dim=0)

    @property
    def antithetic_draws(self) -> bool:
        """Whether the bound's ``train_samples`` draws come in antithetic pairs: the setting on,
        the ELBO (the IWAE bound keeps independent draws) and an even ``train_samples``."""
        return self.hparams.antithetic and elbo_with_paired_draws(self.hparams)

    def kl_weight(self) -> float:
        """β now: rising linearly over the first ``kl_warmup`` steps at the full learning rate.

        KL warm-up (Bowman et al., "Generating Sentences from a Continuous Space", CoNLL 2016;
        Sønderby et al., "Ladder Variational Autoencoders", NeurIPS 2016): with the full KL
        from the start, a decoder with learned variance settles in the local optimum that
        explains the data as noise and ignores z (posterior collapse); with the KL weight
        starting at 0 the latent code is put to use first.

        Until the learning rate has first reached its full value, a step counts by its rate as
        a fraction of the full rate, so the steps of the trainer's learning-rate warm-up (2 % of
        the budget) count for less: the code gets the same amount of learning before the KL is
        felt in a long run as in a short one. Counted in whole steps, a 32,000-step run (a
        learning-rate warm-up of 640 steps) collapsed onto one latent direction on the
        checkerboard where 8,000 steps did not. After that, steps count whole, also while the
        rate decays, so a short run still reaches β = 1 after about ``kl_warmup`` steps.

        The warm-up is not shortened for a short budget: ending it by a third of 300 or 1,000
        steps (2026-12-05, ``benchmarks/vae_blur.py``, seeds 0 and 1) collapsed every run onto
        the noise optimum (decoder means 97-99 % outside the squares; at 1,000 steps energy
        ratios 27.7 / 23.7 against 3.2 / 4.7 with the whole warm-up). The code needs its
        steps at β < 1 whatever the budget; a run shorter than the warm-up is warned about.
        """
        warmup = self.hparams.kl_warmup
        if warmup == 0:
            return self.hparams.beta
        return self.hparams.beta * min(1.0, float(self.updates) / warmup)

    def reconstruction_evenness(self) -> float:
        """γ of the balanced reconstruction term now (:mod:`~pushforward.models.vae.balance`):
        1 when the KL warm-up starts, falling with it to 0, so that from the warm-up's end the
        objective is the β-ELBO itself. 0 without ``balance_warmup``, a KL warm-up, the ELBO or
        a Gaussian decoder.

        Measured on the checkerboard (2026-12-06, ``benchmarks/vae_collapse.py``): with a
        standard-normal prior, 2,500 steps, seeds 0-19, 3 runs collapsed without it and none
        with it; at the defaults and 8,000 steps the samples are as sharp as without it.
        """
        hp = self.hparams
        if not (hp.balance_warmup and elbo_with_kl_warmup(hp)) or not isinstance(self.decoder_likelihood, GaussianLikelihood):
            return 0.0
        return max(0.0, 1.0 - float(self.updates) / hp.kl_warmup)

    # -- the common interface --------------------------------------------------------------

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        beta, evenness = self.kl_weight(), self.reconstruction_evenness()
        loss = -self.bound(x, beta=beta, evenness=evenness).mean()
        return {"loss": loss, "beta": torch.tensor(beta), "evenness": torch.tensor(evenness)}

    def after_step(self, group: str, learning_rate_factor: float = 1.0) -> None:
        self.peak_rate_factor = max(self.peak_rate_factor, learning_rate_factor)
        self.updates += self.peak_rate_factor

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        # A fixed seed, so successive validations compare weights, not noise.
        generator = torch.Generator(device=x.device).manual_seed(0)
        parts = [self.bound(part, generator) for part in x.split(8192)]
        return -precise_mean(torch.cat(parts))

    def log_prob(self, x: Tensor, samples: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Importance-weighted estimate of log p(x) with K = ``samples`` (default ``eval_samples``).

        The K draws go through the decoder in chunks of about ``ESTIMATE_ROWS`` rows, so any K
        fits in memory.
        """
        k = self.hparams.eval_samples if samples is None else samples
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"the number of importance samples K must be an integer >= 1, not {k!r}", "use K = 1000")
        total = RunningLogMeanExp()
        chunk = max(1, min(k, ESTIMATE_ROWS // max(x.shape[0], 1)))
        done = 0
        while done < k:
            step = min(chunk, k - done)
            log_likelihood, log_prior, log_posterior = self.log_weights(x, step, generator)
            total.add(log_likelihood + log_prior - log_posterior)
            done += step
        return total.value()

    @property
    def estimate_samples(self) -> int:
        """K of :meth:`log_prob`, reported beside the estimate by ``eval``."""
        return self.hparams.eval_samples

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mean: bool = False) -> Tensor:
        """x ~ p(x|z), z ~ p(z): draws of the model. ``mean=True`` returns E[x|z] instead.

        The decoder mean is not a sample of the model's distribution (it drops the decoder's
        noise), so it looks sharper than the model is; metrics always use ``mean=False``.
        """
        dtype = next(self.parameters()).dtype
        z = self.prior.sample(n, generator, self.device, dtype)
        raw = self.decoder(z)
        return self.decoder_likelihood.mean(raw) if mean else self.decoder_likelihood.sample(raw, generator)

    def start_training(self) -> None:
        """The decoder-noise scale goes back to 1: the ELBO was trained (and its validation
        scores kept) at 1, and a resumed run continues that, to be calibrated again at its end."""
        if isinstance(self.decoder_likelihood, GaussianLikelihood):
            self.decoder_likelihood.log_noise_scale.zero_()
            self.decoder_likelihood.noise_scale_points.zero_()

    def finish_training(self, validation: Tensor, seconds: float | None = None) -> None:
        """With ``calibrate_noise`` and a Gaussian decoder: set the scale c on σ(z) that
        maximises the importance-weighted estimate of log p(x) on up to ``CALIBRATION_POINTS``
        validation points, with K = ``CALIBRATION_SAMPLES`` (the default ``eval_samples``, fixed
        here so that a larger ``eval_samples`` does not make every fit slower), over [1/16, 4]
        (:mod:`~pushforward.models.vae.calibration`, which says why the ELBO leaves σ too wide).

        The draws are seeded, so a run calibrates the same way each time. Under a time budget the
        points are taken in chunks of ``CALIBRATION_CHUNK`` while the time left allows (at least
        one chunk); the search itself costs about as much as one chunk's pass.
        """
        likelihood = self.decoder_likelihood
        if not self._calibrates():
            return
        started = time.perf_counter()
        generator = torch.Generator(device=validation.device).manual_seed(0)
        k = CALIBRATION_SAMPLES
        chunk = max(1, min(CALIBRATION_CHUNK, ESTIMATE_ROWS // k))
        terms = []
        for part in validation[:CALIBRATION_POINTS].split(chunk):
            terms.append(self.calibration_terms(part, k, generator))
            spent = time.perf_counter() - started
            if seconds is not None and spent * (len(terms) + 2) / len(terms) > seconds:
                break  # one more chunk and the search would not fit in the time left
        # On the CPU (a few MB): the search sums in float64, which MPS does not have.
        bases, squares = (torch.cat(parts, dim=1).cpu() for parts in zip(*terms))
        log_scale, _ = best_log_scale(bases, squares, math.prod(self.event_shape))
        likelihood.log_noise_scale.fill_(log_scale)
        likelihood.noise_scale_points.fill_(bases.shape[1])

    def calibration_terms(self, x: Tensor, k: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(base, squares)``, each ``(k, n)``, of ``k`` posterior draws per point: the
        log-weights as functions of the noise scale c (see
        :mod:`~pushforward.models.vae.calibration`), from σ(z) as the network gives it."""
        likelihood = self.decoder_likelihood
        if not isinstance(likelihood, GaussianLikelihood):
            raise TypeError("only a Gaussian decoder has a noise scale")
        z, repeated_x, log_prior, log_posterior = self.posterior_draws(x, k, generator)
        mean, log_scale = likelihood.split_uncalibrated(self.decoder(z))
        squares = 0.5 * ((repeated_x - mean) * torch.exp(-log_scale)).square().flatten(1).sum(dim=1).view(k, -1)
        # log w(1) + squares: the part of each log-weight that does not depend on c.
        base = (-log_scale - 0.5 * LOG_2PI).flatten(1).sum(dim=1).view(k, -1) + log_prior - log_posterior
        return base, squares

    def finish_time_share(self) -> float:
        return CALIBRATION_SHARE if self._calibrates() else 0.0

    def _calibrates(self) -> bool:
        """Whether training ends by calibrating the decoder's noise (a Gaussian decoder, the setting on)."""
        return self.hparams.calibrate_noise and isinstance(self.decoder_likelihood, GaussianLikelihood)

    def sampling_facts(self) -> dict[str, Any]:
        """The Gaussian decoder's noise scale c and the validation points that chose it (1 and 0:
        not calibrated; see ``calibrate_noise``)."""
        likelihood = self.decoder_likelihood
        if not isinstance(likelihood, GaussianLikelihood):
            return {}
        return {
            "decoder_noise_scale": round(math.exp(float(likelihood.log_noise_scale)), 4),
            "decoder_noise_scale_points": int(likelihood.noise_scale_points),
        }

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """The posterior means of ``x`` in latent space, ``(n, latent)``."""
        return self.variational.mean(self.posterior(x))

    @torch.no_grad()
    def diagnostics(self, x: Tensor) -> dict[str, Any]:
        """Posterior collapse shows here: ``active_latent_dimensions`` of ``latent_dimensions``
        principal directions of the posterior means of ``x`` vary by more than 10⁻²
        (:mod:`pushforward.metrics.latent`), with their variances, largest first."""
        activity = latent_activity(in_row_chunks(self.encode, x, VALIDATION_CHUNK))
        return {
            "active_latent_dimensions": activity.active,
            "latent_dimensions": activity.dimensions,
            "latent_mean_variances": list(activity.variances),
        }

    def warnings(self, diagnostics: dict[str, Any]) -> list[str]:
        # Weights from inside the KL warm-up: the β = 1 bound that picks the kept weights gets
        # worse while β < 1, so a run shorter than the warm-up keeps weights from its first
        # steps (compare --time 8 kept step 2's of 345, energy ratio 9.4). Said instead of the
        # collapse warning, whose advice (a longer warm-up) would make it worse.
        warmup = self.hparams.kl_warmup
        if float(self.updates) < warmup:
            return [
                f"the weights kept are from inside the KL warm-up ({float(self.updates):.0f} of its {warmup} steps), "
                "where the bound was still recovering: train longer (a few times the warm-up's steps) or "
                "shorten the warm-up (--set kl_warmup=N)"
            ]
        # Fewer active directions than the latent space and the data both have: the encoder
        # put one onto the prior (the KL gap then stays near 0.79 nats on the checkerboard,
        # against 0.06-0.07). Rare since the balanced warm-up (reconstruction_evenness), and a
        # path that collapsed does not recover by itself: a KL warm-up started again from β = 0
        # at step 1,250 and 2,500 left the direction at the prior (standard-normal prior, seed 0).
        active, latent = diagnostics["active_latent_dimensions"], diagnostics["latent_dimensions"]
        if active >= min(latent, math.prod(self.event_shape)):
            return []
        return [
            f"only {active} of {latent} latent dimensions are active (posterior collapse: the encoder "
            "ignores a direction, and samples suffer); refit with another --seed or a longer KL "
            "warm-up (--set kl_warmup=2000)"
        ]

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The decoder mean at the posterior mean: the usual picture of a reconstruction."""
        return self.decoder_likelihood.mean(self.decoder(self.encode(x)))


_SUMMARY = "Variational autoencoder, β-ELBO (Kingma & Welling, 2014); log p(x) by importance sampling"


# Defaults tuned on the checkerboard under a step budget (see the report of issue 4). Fourier
# features of z in the decoder: samples outside the squares after 20k steps 5.6 % → 3.2 % (64 at
# bandwidth 1, seed 0; 4.4 % with seed 1; 32 at 0.5: 3.7 %), from sharper decoder means and a
# smaller decoder scale. No early stopping: during the KL warm-up the β = 1 validation bound
# gets worse before it gets better, which would stop a slow run before the warm-up ends (the best weights are still kept).
# The posterior stays diagonal: at 8,000 steps (seeds 0 / 1) "full" put 4.32 / 4.47 % outside
# against diagonal's 4.22 / 4.47 %, "flow" 4.67 % at 1.6× the CPU; the estimate−ELBO gap is only
# ≈ 0.024 nats with any of them, so q(z|x) is not what keeps the decoder noise wide
# (benchmarks/vae_blur.py). More steps help, but less and less: 4.30 % at 8,000, 3.34 % at 16,000,
# 3.11 % at 32,000 (seed 0, 2026-12-03). Two posterior draws per point, in an antithetic pair:
# 1.4× the CPU per step, and over seeds 0-19 at 5,700 steps (the CPU time of 8,000 with one
# draw) a median of 2.58 % outside (2.16-2.88), against 2.77 % (2.47-3.17) with one draw at
# 8,000 steps, −0.22 ± 0.04 points paired; two independent draws at 5,700 steps, 2.82 %: the gain
# is the pairing's, not the second draw's (2026-12-06, benchmarks/vae_collapse.py).
@register("vae", family="vae", summary=_SUMMARY, train_defaults={"batch_size": 1024, "lr": 5e-3, "patience": 0})
class BetaVAE(VAE):
    pass


@register(
    "iwae",
    family="vae",
    summary="Importance-weighted autoencoder (Burda et al., 2016)",
    preset={"objective": "iwae", "train_samples": 8},
    train_defaults={"batch_size": 512, "lr": 5e-3, "patience": 0},
)
class IWAE(VAE):
    pass
