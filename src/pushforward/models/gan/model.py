"""Generative adversarial networks behind the common interface: ``gan``, ``gan-minimax``,
``wgan`` and ``wgan-gp``.

A GAN learns g by a game, not by a likelihood: a critic (discriminator) is trained to tell data
from samples g(z), and g to fool it. In the trainer's terms (:mod:`pushforward.models.base`) it
has two parameter groups, ``critic`` and ``generator``, a step plan of ``critic_steps`` critic
steps then one generator step, a learning rate for each, and one loss per group
(:mod:`pushforward.models.gan.losses`). Weight clipping runs in :meth:`GAN.after_step`. There is
no likelihood (``likelihood = "none"``); the validation score is the energy distance between
samples and the validation split, so early stopping and the kept weights follow sample quality.

References: Goodfellow et al., "Generative adversarial nets", NeurIPS 2014; Arjovsky, Chintala,
Bottou, "Wasserstein generative adversarial networks", ICML 2017; Gulrajani et al., "Improved
training of Wasserstein GANs", NeurIPS 2017; Miyato et al., "Spectral normalization for
generative adversarial networks", ICLR 2018; Lin et al., "PacGAN: The power of two samples in
generative adversarial networks", NeurIPS 2018.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from pushforward.errors import NotTractable, UserError
from pushforward.unread_settings import ReadOnlyIf, RefusesUnreadSettings
from pushforward.metrics.distances import mean_pairwise_distance
from pushforward.metrics.two_sample import energy_distance
from pushforward.models.base import GenerativeModel, register
from pushforward.models.gan import losses, rejection
from pushforward.models.gan.networks import (
    add_spectral_norm,
    clip_weights_,
    make_critic,
    make_generator,
    pack_events,
    packed_shape,
)
from pushforward.nn.mlp import Activation

Loss = Literal["nonsaturating", "minimax", "wasserstein"]
# log M candidates of the bound selection (GAN.finish_training), beside drs_log_bound and the exact bound.
SELECTION_BOUNDS = (-3.5, -1.5, 0.0, 1.5)
# Under a time budget the selection gets FINISH_SHARE of it, held back from training, and sizes
# itself by a pilot of SELECTION_PILOT samples. Its cost grows faster than n² once the pairwise
# distances leave the cache: 35× from 2,000 to 10,000 samples on a 2-CPU AMD EPYC (2026-12-05),
# i.e. about n^2.2.
FINISH_SHARE = 0.1
SELECTION_PILOT = 2000
SELECTION_COST_EXPONENT = 2.2


def selection_size(pilot: int, pilot_seconds: float, seconds: float, largest: int) -> int:
    """The most samples whose scoring takes at most ``seconds``, from a pilot of ``pilot``
    samples that took ``pilot_seconds``, within [pilot, largest]."""
    if seconds <= pilot_seconds:
        return pilot
    size = int(pilot * (seconds / max(pilot_seconds, 1e-9)) ** (1 / SELECTION_COST_EXPONENT))
    return max(pilot, min(size, largest))
Sampler = Literal["generator", "drs"]


@dataclass
class GANHyperparameters(RefusesUnreadSettings):
    """What defines a GAN; every field can be set with ``--set key=value``.

    ``generator_lr`` / ``critic_lr`` default to the trainer's ``lr``; both follow its schedule.
    ``clip`` (WGAN's weight clipping bound), ``gradient_penalty`` (WGAN-GP's λ) and ``r1``
    (the weight γ of the R1 penalty γ/2 E‖∇D(x)‖² on real data) are 0 = off.
    """

    loss: Loss = "nonsaturating"
    architecture: Literal["mlp"] = "mlp"
    latent_features: int = 8
    hidden_features: int = 128
    hidden_layers: int = 3
    critic_hidden_features: int | None = None  # None: the generator's width
    critic_hidden_layers: int | None = None  # None: the generator's depth
    activation: Activation = "relu"
    critic_fourier: int = 0  # random Fourier features at the critic's input (Tancik et al. 2020); 0 = off
    critic_fourier_scale: float = 1.0  # their frequencies' standard deviation, in (standardised) data units
    critic_steps: int = 1
    generator_lr: float | None = None
    critic_lr: float | None = None
    optimizer: Literal["adam", "rmsprop"] = "adam"
    spectral_norm: bool = False
    clip: float = 0.0
    gradient_penalty: float = 0.0
    r1: float = 0.0
    r1_every: int = 1  # lazy R1: the penalty on every k-th critic step only, weighted k·γ/2
    pack: int = 1
    validation_samples: int = 2000  # energy distance on 2000 vs 2000 points: ~0.1 s
    # Discriminator rejection sampling (Azadi et al., ICLR 2019; models/gan/rejection.py):
    # "drs" trains a separate, unpacked discriminator with the logistic loss on the frozen
    # generator over the last `drs_fraction` of the budget, and `sample` keeps the generator's
    # draws that it accepts. Its input goes through `drs_fourier` random Fourier features of
    # scale `drs_fourier_scale` so that it resolves details as fine as a narrow mode's edge.
    sampler: Sampler = "generator"
    # `drs_fraction` = 0.2, `drs_lr` = 6e-3, `drs_fourier_scale` = 2 (before: 0.1, 2e-3, 4),
    # measured with `gan` (benchmarks/gan_modes.py): on the checkerboard (9k steps, 4 seeds) the
    # share of samples outside the squares fell from 7.53 % to 1.51 % on the mean (every seed
    # ≤ 1.68 %); on the 5×5 grid (3 seeds × 15k steps) 25/25 modes in each, high-quality share
    # 99.5 / 99.5 / 99.3 %, mode KL 0.0068 / 0.0042 / 0.0086. The checkerboard's energy ratio
    # stays at 2.6–3.4 per seed: the generator makes hollow squares, and rejection can only take
    # mass away, never fill a hole. (The likely reason, not measured setting by setting: the
    # coarser features give a smoother discriminator that rejects less inside the squares, and
    # the longer share at a higher rate lets it converge before the budget ends.)
    drs_fraction: float = 0.2
    # log M: accept x with min(1, exp(D̃(x) − log M)); none = the burn-in's largest logit (exact
    # rejection sampling, but its acceptance rate collapses where the generator is too thin).
    drs_log_bound: float | None = -3.5
    drs_burn_in: int = 10000
    drs_lr: float = 6e-3
    drs_fourier: int = 64
    drs_fourier_scale: float = 2.0
    drs_min_acceptance: float = 0.01
    # With `drs_select_bound`, training ends by choosing log M on the validation split: among
    # `drs_log_bound`, SELECTION_BOUNDS and the exact bound (the burn-in's largest logit), the
    # one whose DRS samples (`drs_selection_samples` of them) have the smallest energy distance
    # to the validation points (see GAN.finish_training for the measurements behind it).
    drs_select_bound: bool = True
    drs_selection_samples: int = 10000

    # Runs saved before the selection existed sampled with `drs_log_bound` as it was.
    VALUES_BEFORE_THE_SETTING_EXISTED: ClassVar[dict[str, object]] = {"drs_select_bound": False}

    # Settings read only under another's value (see pushforward.unread_settings).
    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = (
        ReadOnlyIf(("r1_every",), lambda h: h.r1 > 0, "when r1 > 0", ("r1",), "use --set r1=1"),
        ReadOnlyIf(("critic_fourier_scale",), lambda h: h.critic_fourier > 0, "when critic_fourier > 0", ("critic_fourier",),
                   "use --set critic_fourier=64"),
        ReadOnlyIf(("drs_fraction", "drs_log_bound", "drs_burn_in", "drs_lr", "drs_fourier", "drs_fourier_scale",
                    "drs_min_acceptance", "drs_select_bound", "drs_selection_samples"),
                   lambda h: h.sampler == "drs", "when sampler=drs", ("sampler",), "use --set sampler=drs"),
        ReadOnlyIf(("drs_fourier_scale",), lambda h: h.drs_fourier > 0, "when drs_fourier > 0", ("drs_fourier",),
                   "use --set drs_fourier=64"),
        ReadOnlyIf(("drs_selection_samples",), lambda h: h.drs_select_bound, "when drs_select_bound=true", ("drs_select_bound",),
                   "use --set drs_select_bound=true"),
    )

    def __post_init__(self) -> None:
        checks = [
            (self.latent_features >= 1, "latent_features must be at least 1", "use --set latent_features=8"),
            (self.hidden_features >= 1, "hidden_features must be at least 1", "use --set hidden_features=128"),
            (self.hidden_layers >= 0, "hidden_layers must be ≥ 0", "use --set hidden_layers=3"),
            (self.critic_hidden_features is None or self.critic_hidden_features >= 1,
             "critic_hidden_features must be at least 1", "use --set critic_hidden_features=128"),
            (self.critic_hidden_layers is None or self.critic_hidden_layers >= 0,
             "critic_hidden_layers must be ≥ 0", "use --set critic_hidden_layers=3"),
            (self.critic_fourier >= 0, "critic_fourier must be ≥ 0", "use --set critic_fourier=64 (0 = off)"),
            (self.critic_fourier_scale > 0, "critic_fourier_scale must be positive", "use --set critic_fourier_scale=1"),
            (self.critic_steps >= 1, "critic_steps must be at least 1", "use --set critic_steps=5"),
            (self.generator_lr is None or self.generator_lr > 0, "generator_lr must be positive", "use --set generator_lr=1e-4"),
            (self.critic_lr is None or self.critic_lr > 0, "critic_lr must be positive", "use --set critic_lr=1e-4"),
            (self.clip >= 0, "clip must be ≥ 0", "use --set clip=0.01 (0 = off)"),
            (self.gradient_penalty >= 0, "gradient_penalty must be ≥ 0", "use --set gradient_penalty=10 (0 = off)"),
            (self.r1 >= 0, "r1 must be ≥ 0", "use --set r1=1 (0 = off)"),
            (self.r1_every >= 1, "r1_every must be at least 1", "use --set r1_every=1 (every critic step) or 4"),
            (self.pack >= 1, "pack must be at least 1", "use --set pack=1 (no packing) or 2-4"),
            (self.validation_samples >= 2, "validation_samples must be at least 2", "use --set validation_samples=2000"),
            (0 < self.drs_fraction < 1, "drs_fraction is a share of the budget in (0, 1)", "use --set drs_fraction=0.2"),
            (self.drs_log_bound is None or math.isfinite(self.drs_log_bound), "drs_log_bound must be finite",
             "use --set drs_log_bound=-3.5 (or none: the largest burn-in logit)"),
            (self.drs_burn_in >= 100, "drs_burn_in must be at least 100", "use --set drs_burn_in=10000"),
            (self.drs_lr > 0, "drs_lr must be positive", "use --set drs_lr=6e-3"),
            (self.drs_fourier >= 0, "drs_fourier must be ≥ 0", "use --set drs_fourier=64 (0 = off)"),
            (self.drs_fourier_scale > 0, "drs_fourier_scale must be positive", "use --set drs_fourier_scale=2"),
            (0 < self.drs_min_acceptance <= 1, "drs_min_acceptance must lie in (0, 1]", "use --set drs_min_acceptance=0.01"),
            (self.drs_selection_samples >= 100, "drs_selection_samples must be at least 100",
             "use --set drs_selection_samples=10000"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise UserError(problem, fix)


@contextmanager
def _frozen(module: nn.Module):
    """Build a graph through ``module`` without its parameters as leaves.

    The generator's loss passes through the critic; with the critic's parameters frozen while
    the graph is built, the backward pass skips their gradients (half of that pass's work).
    """
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GAN(GenerativeModel):
    """A generator g and a critic trained by alternating steps on a GAN loss.

    The latent law is N(0, I) in ``latent_features`` dimensions. The critic scores ``pack``
    events at a time (PacGAN; 1 = a plain critic).
    """

    likelihood = "none"
    hyperparameters_class = GANHyperparameters
    validation_name = "val_energy"
    validation_is_nll = False  # not a log-density: reported as the model computes it

    def __init__(self, event_shape: tuple[int, ...], hparams: GANHyperparameters) -> None:
        super().__init__(event_shape, hparams)
        h = hparams
        self.generator = make_generator(
            h.architecture, h.latent_features, self.event_shape, h.hidden_features, h.hidden_layers, h.activation
        )
        critic = make_critic(
            h.architecture,
            packed_shape(self.event_shape, h.pack),
            h.critic_hidden_features or h.hidden_features,
            h.hidden_layers if h.critic_hidden_layers is None else h.critic_hidden_layers,
            h.activation,
            h.critic_fourier,
            h.critic_fourier_scale,
        )
        self.critic = add_spectral_norm(critic) if h.spectral_norm else critic
        self._critic_steps = 0  # counts critic objectives, for the lazy R1 penalty
        # Discriminator rejection sampling needs a discriminator of single events whose logit
        # estimates log p/q: the game's critic is packed (it scores pairs), regularised by R1 and
        # for the Wasserstein losses not a classifier at all, so the ratio gets its own network,
        # trained only once the generator is frozen (the final phase), with the plain logistic loss.
        self.ratio: nn.Module | None = None
        if h.sampler == "drs":
            self.ratio = make_critic(
                h.architecture,
                self.event_shape,
                h.critic_hidden_features or h.hidden_features,
                h.hidden_layers if h.critic_hidden_layers is None else h.critic_hidden_layers,
                h.activation,
                h.drs_fourier,
                h.drs_fourier_scale,
            )
        # Saved with the weights: a run stopped before the calibration cannot sample by DRS.
        self.register_buffer("calibration_steps", torch.zeros((), dtype=torch.long))
        # log M chosen on the validation split when training ended (NaN: none, use drs_log_bound).
        # float32, as every buffer: a module moves to MPS only if none of its tensors is float64.
        self.register_buffer("selected_log_bound", torch.full((), math.nan))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # Weights saved before the selection existed have no chosen bound: they keep drs_log_bound.
        state_dict.setdefault(prefix + "selected_log_bound", torch.full((), math.nan))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]

    # -- sampling -------------------------------------------------------------------------

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.hparams.latent_features, generator=generator, device=self.device)

    def sample_generator(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws g(z) of the generator itself (what the game trains)."""
        return self.generator(self.latent(n, generator))

    def _uncalibrated(self) -> str | None:
        """Why DRS cannot run (a tiny budget, or a run stopped early, never reached the
        calibration), or None when it can or is not asked for."""
        if self.hparams.sampler == "generator" or int(self.calibration_steps) > 0:
            return None
        return (
            "this GAN's discriminator was never calibrated (the calibration runs in the last "
            f"{100 * self.hparams.drs_fraction:g} % of the budget, and this run took no step there: it "
            "stopped early, or its budget was too short): these are the generator's samples, without "
            "rejection; fit with a budget it can finish"
        )

    def warnings(self, diagnostics: dict[str, Any]) -> list[str]:
        problem = self._uncalibrated()
        return [problem] if problem else []

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples of the model: the generator's draws, or those DRS accepts (``sampler``)."""
        if self.hparams.sampler == "generator":
            return self.sample_generator(n, generator)
        problem = self._uncalibrated()
        if problem:
            # Say so, and still answer (fit draws its figures, eval its metrics) with the
            # generator's samples.
            warnings.warn(problem, stacklevel=2)
            return self.sample_generator(n, generator)
        with torch.no_grad():
            calibration = self.drs_calibration()

            def propose(m: int) -> tuple[Tensor, Tensor]:
                x = self.sample_generator(m, generator)
                return x, self.ratio_logits(x)

            return rejection.rejection_sample(
                propose, n, calibration, generator=generator, min_acceptance=self.hparams.drs_min_acceptance
            )

    def ratio_logits(self, x: Tensor) -> Tensor:
        """The calibrated discriminator's logits, estimates of log p(x)/q(x) (data p, generator q)."""
        if self.ratio is None:
            raise UserError("this GAN has no calibrated discriminator", "fit it with --set sampler=drs")
        return self.ratio(x)

    @torch.no_grad()
    def drs_calibration(self) -> rejection.Calibration:
        """log M and the acceptance rate from ``drs_burn_in`` proposals of a fixed seed (so every
        call, of any size, samples the same distribution)."""
        selected = float(self.selected_log_bound)
        return rejection.calibrate(self._burn_in_logits(), selected if math.isfinite(selected) else self.hparams.drs_log_bound)

    @torch.no_grad()
    def sampling_facts(self) -> dict[str, Any]:
        """How :meth:`sample` draws: ``sampler``; with DRS calibrated also ``drs_log_bound`` (log M),
        ``drs_bound_source`` ("validation" when chosen at the end of training, else "setting") and
        ``drs_acceptance_rate``, which sets the cost of sampling: 1/rate proposals per sample."""
        if self.hparams.sampler == "generator" or int(self.calibration_steps) == 0:
            return {"sampler": "generator"}
        calibration = self.drs_calibration()
        return {
            "sampler": "drs",
            "drs_log_bound": calibration.log_bound,
            "drs_bound_source": "validation" if math.isfinite(float(self.selected_log_bound)) else "setting",
            "drs_acceptance_rate": calibration.acceptance_rate,
        }

    def _burn_in_logits(self) -> Tensor:
        seed = torch.Generator(device=self.device).manual_seed(0)
        return torch.cat(
            [self.ratio_logits(self.sample_generator(len(part), seed)) for part in torch.arange(self.hparams.drs_burn_in).split(65536)]
        )

    @torch.no_grad()
    def finish_training(self, validation: Tensor, seconds: float | None = None) -> None:
        """With DRS calibrated and ``drs_select_bound``: choose log M on the validation split.

        No fixed bound suits every data set. On the grid of 25 the generator's clusters are
        narrower than the data's, the discriminator's logits vary inside each mode, and any
        bound above the modes' logits thins some modes more than others; on the checkerboard
        the generator's squares are uneven and only a high bound evens them. Measured on one
        run of each (`gan` defaults, 2 threads; the energy ratio and mode metrics as in
        benchmarks/gan_modes.py): the grid (100 s) had mode KL 0.005–0.006 at log M = −3.5
        and 0.016–0.027 at −1.5 … 2; the checkerboard (60 s) had an energy ratio of 5.8 at
        −3.5, 3.8 at 1.5 and 0.86 at the exact bound (acceptance 4 %), with 0.45 % of samples
        outside the squares. The energy distance to 10,000 validation points ranked the
        bounds the same way on both, in each of three draws. So each candidate that accepts at
        least ``drs_min_acceptance`` draws ``drs_selection_samples`` samples (a fixed seed) and
        the smallest 2E‖X−V‖ − E‖X−X'‖ wins: the energy distance without its E‖V−V'‖ term,
        which is the same for every candidate. About 1 s per candidate for 10,000 samples on a
        fast CPU, 3 s on a slow one.

        Under a time budget (``seconds``) the selection keeps to the time left: it scores the
        first candidate on ``SELECTION_PILOT`` samples, and if 10,000 would not fit, every
        candidate is scored on as many as fit (at least the pilot's).
        """
        h = self.hparams
        if self.ratio is None or int(self.calibration_steps) == 0 or not h.drs_select_bound:
            return
        logits = self._burn_in_logits()
        candidates = rejection.candidate_bounds(logits, [h.drs_log_bound, *SELECTION_BOUNDS], h.drs_min_acceptance)
        size = h.drs_selection_samples
        scores: dict[int, float] = {}
        if seconds is not None and size > SELECTION_PILOT:
            started = time.perf_counter()
            pilot = self._bound_score(candidates[0], logits, validation, SELECTION_PILOT)
            pilot_seconds = time.perf_counter() - started
            per_candidate = (seconds - pilot_seconds) / len(candidates)
            size = selection_size(SELECTION_PILOT, pilot_seconds, per_candidate, size)
            if size == SELECTION_PILOT:
                scores[0] = pilot
        for index, bound in enumerate(candidates):
            if index not in scores:
                scores[index] = self._bound_score(bound, logits, validation, size)
        self.selected_log_bound.fill_(candidates[min(scores, key=scores.__getitem__)])

    def finish_time_share(self) -> float:
        return FINISH_SHARE if self.ratio is not None and self.hparams.drs_select_bound else 0.0

    def _bound_score(self, bound: float, logits: Tensor, validation: Tensor, size: int) -> float:
        """2E‖X−V‖ − E‖X−X'‖ for ``size`` DRS samples X at ``bound`` (a fixed seed) and as many
        validation points V: the energy distance up to the term every bound shares."""
        seed = torch.Generator(device=self.device).manual_seed(1)

        def propose(m: int) -> tuple[Tensor, Tensor]:
            x = self.sample_generator(m, seed)
            return x, self.ratio_logits(x)

        calibration = rejection.calibrate(logits, bound)
        samples = rejection.rejection_sample(propose, size, calibration, generator=seed,
                                             min_acceptance=self.hparams.drs_min_acceptance)
        points = validation[:size]
        return float(2 * mean_pairwise_distance(samples, points) - mean_pairwise_distance(samples, samples))

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotTractable(
            "the likelihood is not tractable for GANs (a generator defines samples, not a density)",
            "use the sample-based metrics: pushforward eval reports energy distance and mode coverage",
        )

    # -- the game -------------------------------------------------------------------------

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"critic": list(self.critic.parameters()), "generator": list(self.generator.parameters())}
        if self.ratio is not None:
            groups["ratio"] = list(self.ratio.parameters())
        return groups

    def step_plan(self) -> list[tuple[str, int]]:
        return [("critic", self.hparams.critic_steps), ("generator", 1)]

    def final_phase(self) -> tuple[float, list[tuple[str, int]]] | None:
        """With DRS: the last ``drs_fraction`` of the budget calibrates the discriminator alone."""
        if self.ratio is None:
            return None
        return self.hparams.drs_fraction, [("ratio", 1)]

    def optimizer_options(self, group: str) -> dict[str, Any]:
        if group == "ratio":  # a classifier, whatever the game's optimizer: Adam at its own rate
            return {"lr": self.hparams.drs_lr, "kind": "adamw"}
        lr = self.hparams.critic_lr if group == "critic" else self.hparams.generator_lr
        options: dict[str, Any] = {} if lr is None else {"lr": lr}
        if self.hparams.optimizer == "rmsprop":
            options["kind"] = "rmsprop"
        return options

    def score(self, x: Tensor) -> Tensor:
        """The critic's scores of ``x``, packed ``pack`` events to a score."""
        return self.critic(pack_events(x, self.hparams.pack))

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        h = self.hparams
        if group == "ratio":
            with torch.no_grad():
                fake = self.sample_generator(x.shape[0])
            loss = losses.discriminator_loss(self.ratio_logits(x), self.ratio_logits(fake))
            self.calibration_steps += 1
            return {"loss": loss}
        if group == "critic":
            with torch.no_grad():
                fake = self.sample_generator(x.shape[0])
            real_scores, fake_scores = self.score(x), self.score(fake)
            if h.loss == "wasserstein":
                loss = losses.critic_loss_wasserstein(real_scores, fake_scores)
                out = {"distance": (real_scores.mean() - fake_scores.mean()).detach()}
            else:
                loss = losses.discriminator_loss(real_scores, fake_scores)
                out = {}
            if h.gradient_penalty > 0:
                penalty = losses.gradient_penalty(self.critic, pack_events(x, h.pack), pack_events(fake, h.pack))
                loss = loss + h.gradient_penalty * penalty
                out["penalty"] = penalty.detach()
            # Lazy regularisation (Karras et al., "Analyzing and improving the image quality of
            # StyleGAN", CVPR 2020): the double backward of R1 is the dearest part of a critic
            # step, and applying it every k-th step with k times the weight keeps its average.
            if h.r1 > 0 and self._critic_steps % h.r1_every == 0:
                r1 = losses.r1_penalty(self.critic, pack_events(x, h.pack))
                loss = loss + h.r1_every * h.r1 / 2 * r1
                out["r1"] = r1.detach()
            self._critic_steps += 1
            return {"loss": loss, **out}
        if group == "generator":
            fake = self.sample_generator(x.shape[0])
            with _frozen(self.critic):
                fake_scores = self.score(fake)
            if h.loss == "wasserstein":
                loss = losses.generator_loss_wasserstein(fake_scores)
            elif h.loss == "minimax":
                loss = losses.generator_loss_minimax(fake_scores)
            else:
                loss = losses.generator_loss_nonsaturating(fake_scores)
            return {"loss": loss}
        raise ValueError(f"unknown parameter group {group!r}")

    def after_step(self, group: str, learning_rate_factor: float = 1.0) -> None:
        if group == "critic" and self.hparams.clip > 0:
            clip_weights_(self.critic, self.hparams.clip)

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        """Energy distance between ``validation_samples`` samples and as many validation points.

        The latent draws are the same at every validation (a fixed seed), so successive scores
        differ by the generator's change, not by fresh noise. Non-finite samples score +inf.
        """
        n = min(self.hparams.validation_samples, x.shape[0])
        generator = torch.Generator(device=self.device).manual_seed(0)
        samples = torch.cat([self.sample_generator(len(part), generator) for part in torch.arange(n).split(16384)])
        if not torch.isfinite(samples).all():
            return math.inf
        return energy_distance(samples, x[:n])


# The defaults of `gan` and `gan-minimax`, tuned with step budgets on the 5×5 grid and the
# checkerboard (benchmarks/gan_modes.py): the R1 penalty on real data (Mescheder et al., 2018)
# and pairs of samples packed into the critic (PacGAN) against mode dropping; Adam with β₁ = 0,
# β₂ = 0.9 (as in Gulrajani et al., 2017) at a learning rate annealed to 0 over the budget (the
# trainer's cosine schedule), which is what makes the modes sharp at the end — so the final
# weights are kept (`keep_best=False`): the validation energy distance cannot see the few
# per cent of samples between the grid's modes, and picked earlier, worse weights (checkerboard,
# 8k steps, one run: its best-scored weights, step 6080, energy ratio 3.5 and 6.8 % outside the
# squares; its final weights 1.2 and 5.1 %). γ = 0.3 (data
# in standardised units) is a compromise: γ = 1 kept the grid's modes as sharp but blurred the
# checkerboard's edges, γ ≤ 0.1 did not help the grid and left more of the checkerboard's
# samples outside the squares. On the grid the clusters end up *narrower* than σ; what costs
# high-quality samples is the thin bridges between neighbouring modes (the generator is a
# continuous map, and only long training makes its steps steep), which no setting below shrank
# faster per unit of compute. Tried on the grid at 8k steps and not better: a deeper (5) or wider
# (256) generator, latent 2 or gain-4 input weights, β₁ = 0.5, a learning-rate floor, a faster
# critic (TTUR) or generator learning rate, 2 critic steps, R1 0.1, Fourier-feature critic input
# (much worse: the critic's ripples misguide the generator). Lazy R1 (`r1_every=4`) is 1.23×
# faster at the same grid quality but left far more checkerboard samples outside the squares.
# Spectral normalisation instead of R1 was slower to sharpen the grid; packing 4 instead of 2
# was worse. The two names differ only in the generator's loss; `--set r1=0 --set pack=1`
# gives the plain networks of the 2014 paper.
_GAN_PRESET = {"r1": 0.3, "pack": 2}
_GAN_TRAINING = {"lr": 2e-3, "beta1": 0.0, "beta2": 0.9, "patience": 0, "grad_clip": 0.0, "keep_best": False}

# `gan` samples by discriminator rejection sampling (Azadi et al., ICLR 2019): the last 20 % of
# its budget (`drs_fraction`) calibrates a discriminator on the frozen generator, which then
# rejects the thin bridges of samples between modes that no setting above removed (see
# benchmarks/gan_modes.py and the measurements beside the DRS defaults in GANHyperparameters).
# log M is chosen on the validation split when training ends (GAN.finish_training). −3.5, the
# fixed bound before that selection and still one of its candidates, came from scratch runs (one
# thread, a 12k-step grid generator and a 10k-step checkerboard one, 1,500 calibration steps): grid HQ 95.6 % → 98.6 % at mode KL 0.009; checkerboard 17.2 % →
# 4.0 % outside. Higher bounds clean the checkerboard further (−1.5: 2.2 %) but unbalance the
# grid's modes (KL 0.03); the paper's σ(F − γ) with γ a percentile did the same (KL 0.012–0.03
# at percentiles ≥ 10); the exact bound (the burn-in's largest logit) accepts 0.1 % on the grid.
# `gan-minimax` stays the 2014 algorithm for teaching; any name takes `--set sampler=drs`, the
# Wasserstein ones too, since the calibrated discriminator is a separate logistic classifier.
register(
    "gan",
    family="gan",
    summary="GAN, non-saturating loss (Goodfellow et al. 2014), R1, packed pairs, discriminator rejection sampling",
    preset={"loss": "nonsaturating", **_GAN_PRESET, "sampler": "drs"},
    train_defaults=_GAN_TRAINING,
)(GAN)
register(
    "gan-minimax",
    family="gan",
    summary="GAN, the saturating minimax loss exactly as in Goodfellow et al. 2014",
    preset={"loss": "minimax", **_GAN_PRESET},
    train_defaults=_GAN_TRAINING,
)(GAN)
# The Wasserstein names follow their papers' algorithms and hyperparameters.
register(
    "wgan",
    family="gan",
    summary="Wasserstein GAN: weight clipping, RMSprop, 5 critic steps (Arjovsky et al. 2017)",
    preset={"loss": "wasserstein", "clip": 0.01, "critic_steps": 5, "optimizer": "rmsprop"},
    train_defaults={"lr": 5e-5, "patience": 0, "grad_clip": 0.0, "keep_best": False},
)(GAN)
register(
    "wgan-gp",
    family="gan",
    summary="Wasserstein GAN with gradient penalty, 5 critic steps (Gulrajani et al. 2017)",
    preset={"loss": "wasserstein", "gradient_penalty": 10.0, "critic_steps": 5},
    train_defaults={"lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "patience": 0, "grad_clip": 0.0, "keep_best": False},
)(GAN)
