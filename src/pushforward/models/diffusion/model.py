"""Denoising diffusion behind the common interface: ``ddpm``.

Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (the model and
ancestral sampler); Song, Meng, Ermon, "Denoising Diffusion Implicit Models", ICLR 2021
(deterministic sampling in few steps); Song, Sohl-Dickstein, Kingma, Kumar, Ermon, Poole,
"Score-Based Generative Modeling through Stochastic Differential Equations", ICLR 2021 (the
continuous-time view, and the probability-flow ODE that gives ``log_prob``).

The pushforward view: the sampler is a learned map from Gaussian noise x_1 to data x_0 — a
sequence of small denoising steps (the course's "sequence of transformations").

Training is in continuous time: t is drawn uniformly in (0, 1) (stratified across the batch, a
variance reduction from Kingma, Salimans, Poole, Ho, "Variational Diffusion Models", NeurIPS
2021) and the network learns ε (or v) by mean squared error, the "simple" loss of Ho et al.
The discrete chain of ``timesteps`` = T steps is the same process read on the grid t_i = i/T
(for the linear schedule, whose rates T·β it sets; the cosine schedule reads neither T nor β).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor

from pushforward.device import precise_dtype, widened
from pushforward.errors import UserError
from pushforward.unread_settings import ReadOnlyIf, RefusesUnreadSettings
from pushforward.models.base import COSTLY_DENSITY_GRID, GenerativeModel, LikelihoodKind, precise_mean, register, stratified_uniform
from pushforward.models.continuous.model import NFECounter
from pushforward.models.continuous.solvers import ODESolver, integrate, standard_normal_log_prob
from pushforward.models.diffusion.dpm_solver import sample_dpm_solver
from pushforward.nn.time_conditioned import TimeConditionedMLP
from pushforward.models.diffusion.noising import epsilon_from_v, velocity
from pushforward.models.diffusion.probability_flow import probability_flow_field, probability_flow_log_prob, probability_flow_sample
from pushforward.models.diffusion.samplers import DEFAULT_CHUNK_ROWS, THREAD_CHUNK_ROWS, AffineEpsilon, check_steps, precomputed, sample_chain
from pushforward.models.diffusion.schedules import NoiseSchedule, ScheduleKind
from pushforward.models.diffusion.stable_target import stable_target_x0
from pushforward.models.row_threads import on_threads_by_rows
from pushforward.nn.mlp import ACTIVATIONS, Activation

#: The settings only the linear noise schedule reads, refused under the cosine one. The cosine
#: schedule's ᾱ(t) has no β, and ``timesteps`` would only set the grid of
#: :meth:`NoiseSchedule.discrete_betas`, which training (continuous time) and the samplers
#: (``sampler_steps``) never use: accepted, a value there would silently change nothing.
LINEAR_SCHEDULE_SETTINGS = ("timesteps", "beta_start", "beta_end")

#: The ``sampler`` settings, the default first.
SAMPLERS = ("dpm-solver++", "ddim", "ddpm", "ode")


@dataclass
class DDPMHyperparameters(RefusesUnreadSettings):
    """Diffusion settings.

    Network: ``hidden_layers`` × ``hidden_features`` MLP, time through a sinusoidal embedding
    of ``embedding_features`` that shifts and (``time_scale``) scales every hidden layer.
    Process: ``noise_schedule``, "cosine" or "linear" with ``beta_start``, ``beta_end`` over
    ``timesteps`` = T discrete steps (those three are the linear schedule's alone: given with
    the cosine schedule, they are refused, see :data:`LINEAR_SCHEDULE_SETTINGS`); must end at
    ᾱ_T < 1e-3. ``prediction``:
    the network's target, "epsilon" or "v". Sampling: ``sampler`` "dpm-solver++" (default:
    DPM-Solver++(2M), the second-order multistep solver of the probability-flow ODE at DDIM's
    cost, see :mod:`pushforward.models.diffusion.dpm_solver`), "ddim" (deterministic) or
    "ddpm" (ancestral), each with ``sampler_steps`` steps, or "ode" (the probability-flow ODE by
    dopri5). ``log_prob`` integrates the probability-flow ODE from ``ode_t_min`` to 1 with
    dopri5 at tolerances ``ode_rtol``/``ode_atol``, with the ``divergence`` computed exactly or
    by Hutchinson's estimator ("auto": exact up to 16 dimensions). ``weighting`` chooses the
    noise levels of training (see :meth:`DDPM.training_log_snr`); runs of ``points_per_level``
    consecutive points of a batch share one level. ``stable_target``: training regresses on x_0's
    posterior mean over the point's own x_0 and ``reference_points`` others of the batch
    (:mod:`pushforward.models.diffusion.stable_target`). ``input_frequencies`` adds
    sin/cos of x at octaves of π/2 per coordinate; ``space_features`` adds that many random
    Fourier features of x with bandwidth ``space_scale`` (standardised units; Tancik et al.,
    "Fourier Features Let Networks Learn High Frequency Functions in Low Dimensional Domains",
    NeurIPS 2020), so the denoiser at small noise can draw the data's sharp edges.
    """

    hidden_features: int = 48
    hidden_layers: int = 3
    embedding_features: int = 32
    input_frequencies: int = 0
    space_features: int = 32
    space_scale: float = 0.5
    activation: Activation = "silu"
    # The time path also scales each hidden layer's units (FiLM; the scale-shift of Dhariwal &
    # Nichol's "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021): free when
    # sampling, where it folds into the weights once per step. 60 s, seeds 0-3, 2 threads
    # (2026-12-04): KL gap 0.0222 / 0.0235 / 0.0274 / 0.0252 against 0.0384 / 0.0386 / 0.0379 /
    # 0.0397 shift-only, energy ratio (40 draws) 1.22 / 0.97 / 1.09 / 1.05 against 1.43 / 1.19 /
    # 1.14 / 1.14 (BENCHMARKS.md, 2026-12-04 05:50).
    time_scale: bool = True
    # Not ``schedule``: that is the learning rate's, a trainer setting every model shares.
    noise_schedule: ScheduleKind = "cosine"
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: Literal["epsilon", "v"] = "v"
    sampler: Literal["dpm-solver++", "ddim", "ddpm", "ode"] = "dpm-solver++"
    sampler_steps: int = 50
    ode_t_min: float = 1e-4
    ode_rtol: float = 1e-5
    ode_atol: float = 1e-5
    divergence: Literal["auto", "exact", "hutchinson"] = "auto"
    weighting: Literal["uniform_time", "likelihood"] = "likelihood"
    # 16 points per noise level (a batch of 2,048: 128 evenly spaced levels): the time path, an
    # MLP about as large as the denoiser's main path, then runs on 128 rows, not 2,048. At an
    # equal 10,000 steps (seeds 0 / 1 / 2, one thread, 2026-12-03) KL gap 0.0406 / 0.0428 /
    # 0.0427 against 0.0407 / 0.0435 / 0.0414 with a level per point, in 0.77x the CPU time.
    points_per_level: int = 16
    # Regress on the stable target (Xu, Tong, Jaakkola, ICLR 2023; see stable_target.py): x_0
    # averaged over the batch by its posterior weights, so the high noise levels that decide
    # each square's mass are learned from low-variance targets.
    stable_target: bool = True
    reference_points: int = 256

    # Runs saved before these settings existed drew a distinct noise level for every point, had
    # no time scales and regressed on the plain target.
    VALUES_BEFORE_THE_SETTING_EXISTED: ClassVar[dict[str, object]] = {"points_per_level": 1, "time_scale": False, "stable_target": False}
    # Runs saved before 2026-12-04 named the noise schedule ``schedule``.
    SETTINGS_RENAMED: ClassVar[dict[str, str]] = {"schedule": "noise_schedule"}

    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = (
        ReadOnlyIf(LINEAR_SCHEDULE_SETTINGS, lambda h: h.noise_schedule == "linear", "by the linear noise schedule",
                   ("noise_schedule",), "use --set noise_schedule=linear",
                   # Someone who set timesteps may have meant the number of sampling steps.
                   asides=(("timesteps", "sampling steps are --set sampler_steps=N"),)),
    )

    def __post_init__(self) -> None:
        for name, minimum in (("hidden_features", 1), ("hidden_layers", 1), ("embedding_features", 2), ("input_frequencies", 0), ("space_features", 0), ("points_per_level", 1), ("reference_points", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise UserError(f"{name} must be an integer >= {minimum}, not {value!r}", f"use --set {name}=<integer >= {minimum}>")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"unknown activation '{self.activation}'", f"use one of: {', '.join(ACTIVATIONS)}")
        check_steps(self.sampler_steps)
        if self.sampler not in SAMPLERS:
            raise UserError(f"unknown sampler '{self.sampler}'", f"use sampler={', '.join(SAMPLERS)}")
        self.make_noise_schedule()  # validates the schedule (it must reach noise)
        if not 0 < self.space_scale < float("inf"):
            raise UserError(f"space_scale must be positive, not {self.space_scale}", "use --set space_scale=0.5")
        if not 0 < self.ode_t_min < 0.5:
            raise UserError(f"ode_t_min must lie in (0, 0.5), not {self.ode_t_min}", "use --set ode_t_min=1e-4")
        for name in ("ode_rtol", "ode_atol"):
            if not 0 < getattr(self, name) < 1:
                raise UserError(f"{name} must lie in (0, 1), not {getattr(self, name)!r}", f"use --set {name}=1e-5")

    def make_noise_schedule(self) -> NoiseSchedule:
        return NoiseSchedule(self.noise_schedule, self.timesteps, self.beta_start, self.beta_end)

    def ode_solver(self) -> ODESolver:
        return ODESolver("dopri5", rtol=self.ode_rtol, atol=self.ode_atol)


# Defaults tuned on the checkerboard for a 60 s CPU budget: a 64-wide network takes ~4× the
# steps of a 128-wide one in the same time and ends better (KL 0.13 vs 0.23 nats at equal time),
# and keeps 100k DDIM-50 samples near 1 s; v-prediction with the likelihood weighting beat ε and
# uniform times on both the ODE's KL and the samples (report of issue 4). 32 random Fourier
# features of x_t at bandwidth 0.5: KL gap 0.31 → 0.07 nats after 6k steps, 0.034 after 24k
# (0.3 and 1.0 no better; 16 features 0.059 at 12k vs 0.051), at ~35 % more per DDIM step.
# Batch 2048 at lr 6e-3 (was 1024 at 2e-3): `pushforward fit checkerboard --model ddpm --time 60`,
# seeds 0, 1, 2, 2 threads (2026-12-03): KL gap 0.0332 / 0.0315 / 0.0324 against 0.0433 / 0.0422 /
# 0.0464, on ~12.5k steps against ~16k, and 0.4–0.5 % of samples outside the squares against
# 0.8–1.0 %. Batch 2048 at lr 4e-3: 0.0383 / 0.0339 / 0.0327; at 8e-3 0.0386 (seed 0); batch 4096
# at 8e-3 0.035 (seed 0). The step's fixed cost (~200 small operations) is paid half as often.
# 48 wide (was 64), for DDIM's speed: 100k DDIM-50 samples cost 0.65–0.69× as much (timed
# interleaved, 2026-12-03: 0.93 s against 1.34 s; 1.21 s against 1.86 s in a slow hour), and the
# KL gap after 60 s stays well inside the 0.05: seeds 0 / 1 / 2 0.0367 / 0.0417 / 0.0375
# against 0.0321 (seed 0) at 64 wide. Also tried (seed 0, time against 64 wide): 40 wide 0.0410
# at 0.62× (40 is not a multiple of the 16-float AVX-512 vector); 32 wide 0.0469 at 0.52×; 2
# layers of 64 0.0435 at 0.72×; 2 layers of 64 with 16 Fourier features 0.0523 at 0.65×. The
# matrix products, SiLU and sin/cos of the 64-wide network already ran near this CPU's peak;
# fusing bias and SiLU (oneDNN post-ops), float16/bfloat16 and two single-threaded workers did
# not help.
@register(
    "ddpm",
    family="diffusion",
    summary="Denoising diffusion (Ho et al., 2020); DDIM sampling; exact log p by the probability-flow ODE",
    train_defaults={"ema_decay": 0.999, "batch_size": 2048, "lr": 6e-3},
)
class DDPM(GenerativeModel):
    """ε_θ(x_t, t) with a noise schedule, its samplers, and its probability-flow likelihood.

    ``likelihood = "exact"``: :meth:`log_prob` is the change of variables of the
    probability-flow ODE, exact for the density that ODE defines up to the solver's tolerance
    (and Hutchinson's noise in high dimensions); see
    :mod:`pushforward.models.diffusion.probability_flow` for what it is the density *of*.
    ``nfe_sample`` / ``nfe_log_prob`` count network evaluations per solve, as the continuous
    flows do.
    """

    likelihood: ClassVar[LikelihoodKind] = "exact"
    hyperparameters_class = DDPMHyperparameters
    validation_name: ClassVar[str] = "val_denoising_loss"
    validation_is_nll: ClassVar[bool] = False  # not a log-density: reported as the model computes it
    density_grid: ClassVar[int] = COSTLY_DENSITY_GRID  # log_prob is an ODE solve per point

    def __init__(self, event_shape: tuple[int, ...], hparams: DDPMHyperparameters) -> None:
        super().__init__(event_shape, hparams)
        self.schedule = hparams.make_noise_schedule()
        self.network = TimeConditionedMLP(
            self.event_shape,
            hparams.hidden_features,
            hparams.hidden_layers,
            hparams.embedding_features,
            hparams.activation,
            hparams.input_frequencies,
            hparams.space_features,
            hparams.space_scale,
            hparams.time_scale,
        )
        self.nfe_sample = NFECounter()
        self.nfe_log_prob = NFECounter()

    # -- the denoiser ----------------------------------------------------------------------

    def noise_level(self, t: Tensor) -> Tensor:
        """What the network is told about the time: c = ¼ log σ̄(t), σ̄ = σ/α.

        The noise scale, not t itself (Karras, Aittala, Aila, Laine, "Elucidating the Design
        Space of Diffusion-Based Generative Models", NeurIPS 2022, c_noise = ¼ ln σ): the
        score changes fastest as σ → 0, which a uniform grid in t squeezes into a sliver near
        t = 0 but log σ̄ spreads out evenly, so the network sees a smooth input.
        """
        log_alpha_bar = self.schedule.log_alpha_bar(widened(t))
        return 0.125 * (torch.log(-torch.expm1(log_alpha_bar)) - log_alpha_bar)

    def epsilon(self, x: Tensor, t: Tensor) -> Tensor:
        """ε̂(x_t, t) whatever the network predicts (``t``: ``(n,)`` or 0-d)."""
        output = self.network(x, self.noise_level(t).to(x.dtype))
        if self.hparams.prediction == "epsilon":
            return output
        alpha, sigma = self.schedule.alpha_sigma(widened(t).reshape(-1))
        alpha, sigma = alpha.to(x.dtype), sigma.to(x.dtype)
        if alpha.numel() == 1:
            alpha, sigma = alpha.expand(x.shape[0]), sigma.expand(x.shape[0])
        return epsilon_from_v(alpha, sigma, x, output)

    def epsilon_at(self, t: Tensor) -> AffineEpsilon:
        """ε̂(·, t) for one time ``t`` (0-d) shared by a batch: the sampler's view of the network.

        The time path runs once per call (not once per chunk of points), and for v-prediction
        ε̂ = σ x + α v is left to the sampler, which folds it into its update.
        """
        return self.epsilon_at_times(t.reshape(1))[0]

    def epsilon_at_times(self, times: Tensor) -> list[AffineEpsilon]:
        """:meth:`epsilon_at` at each of ``times`` ``(T,)``, the network's time path run once for all."""
        networks = self.network.at_times(self.noise_level(times).to(next(self.parameters()).dtype))
        if self.hparams.prediction == "epsilon":
            return [AffineEpsilon(network, 0.0, 1.0) for network in networks]
        alpha, sigma = self.schedule.alpha_sigma(widened(times))
        return [
            AffineEpsilon(network, float(s), float(a))
            for network, a, s in zip(networks, alpha.reshape(-1).tolist(), sigma.reshape(-1).tolist())
        ]

    def log_snr(self, t: Tensor) -> Tensor:
        """λ(t) = log(ᾱ / (1 − ᾱ)), the log signal-to-noise ratio."""
        log_alpha_bar = self.schedule.log_alpha_bar(widened(t))
        return log_alpha_bar - torch.log(-torch.expm1(log_alpha_bar))

    def training_log_snr(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """Noise levels λ for a batch of ``n``, stratified (one uniform offset, n even steps).

        ``weighting="uniform_time"``: t ~ U(0, 1), the "simple" loss of Ho et al. (2020).
        ``weighting="likelihood"``: λ ~ U[λ(1), λ(ode_t_min)]. With the ε loss this is the
        continuous-time ELBO (Kingma, Salimans, Poole, Ho, "Variational Diffusion Models",
        NeurIPS 2021: L = ½ ∫ ‖ε − ε̂‖² dλ), i.e. maximum likelihood for the density the
        probability-flow ODE reports, and it spends far more of the batch at the low noise
        levels where a density's sharp edges are decided.
        """
        u = stratified_uniform(n, generator, device, precise_dtype(device), self.hparams.points_per_level)
        if self.hparams.weighting == "likelihood":
            ends = self.log_snr(torch.tensor([1.0, self.hparams.ode_t_min], dtype=u.dtype, device=device))
            return ends[0] + u * (ends[1] - ends[0])
        return self.log_snr(u.clamp(min=1e-6))

    def denoising_loss(self, x0: Tensor, generator: torch.Generator | None = None, stable_target: bool = False) -> Tensor:
        """Per-point mean squared error of the network's target (ε or v) at random noise levels.

        ``stable_target``: the target's x_0 is replaced by its posterior mean over the batch
        (:func:`~pushforward.models.diffusion.stable_target.stable_target_x0`), a training
        target of lower variance; without it, the plain loss that validation reports.
        """
        log_snr = self.training_log_snr(x0.shape[0], x0.device, generator)
        alpha, sigma = torch.sigmoid(log_snr).sqrt().to(x0.dtype), torch.sigmoid(-log_snr).sqrt().to(x0.dtype)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        shape = (-1,) + (1,) * (x0.ndim - 1)
        x_t = alpha.view(shape) * x0 + sigma.view(shape) * noise
        # The network's noise-level input c = ¼ log σ̄ = −λ/8 (see noise_level).
        output = self.network(x_t, (-0.125 * log_snr).to(x0.dtype))
        target = noise if self.hparams.prediction == "epsilon" else velocity(alpha, sigma, x0, noise)
        if stable_target:
            # Written as a correction of the plain target, which it equals exactly where the
            # weights are one-hot (low noise), instead of (x_t − α x̄_0)/σ, which would divide
            # float32 rounding by a small σ: ε̄ = ε + α (x_0 − x̄_0)/σ, v̄ = v + (x_0 − x̄_0)/σ.
            with torch.no_grad():
                shift = (x0 - stable_target_x0(x_t, alpha, sigma, x0, self.hparams.reference_points)) / sigma.view(shape)
                target = target + (alpha.view(shape) * shift if self.hparams.prediction == "epsilon" else shift)
        return (output - target).square().flatten(1).mean(dim=1)

    # -- the common interface --------------------------------------------------------------

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        return {"loss": self.denoising_loss(x, stable_target=self.hparams.stable_target).mean()}

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        # Fixed times and noise, so successive validations compare weights, not draws.
        generator = torch.Generator(device=x.device).manual_seed(0)
        return precise_mean(torch.cat([self.denoising_loss(part, generator) for part in x.split(8192)]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """From x_1 ~ N(0, I): ``sampler_steps`` steps of DPM-Solver++(2M) (default), DDIM or
        ancestral DDPM, or the probability-flow ODE (``sampler="ode"``)."""
        hp = self.hparams
        dtype = next(self.parameters()).dtype
        x1 = torch.randn((n, *self.event_shape), generator=generator, device=self.device, dtype=dtype)
        if hp.sampler == "ode":
            x, nfe = probability_flow_sample(self.schedule, self.epsilon, x1, hp.ode_t_min, hp.ode_solver())
            self.nfe_sample.add(nfe)
            return x
        self.nfe_sample.add(hp.sampler_steps)
        if hp.sampler == "ddpm":
            # Ancestral: each step draws the whole batch's noise from ``generator``, so its rows
            # stay together. Chunks bound the activations' memory on a CPU (DEFAULT_CHUNK_ROWS);
            # a GPU wants the whole batch at once.
            chunk_rows = DEFAULT_CHUNK_ROWS if x1.device.type == "cpu" else None
            return sample_chain(self.schedule, self.epsilon_at, x1, hp.sampler_steps, 1.0, generator, chunk_rows)
        # Deterministic: each point's path depends on that point alone, so on a CPU the threads
        # take blocks of rows through the whole chain (row_threads), in chunks of
        # THREAD_CHUNK_ROWS; a GPU takes the whole batch in one pass.
        chunk_rows = THREAD_CHUNK_ROWS if x1.device.type == "cpu" else None
        # Each step's network weights, computed once for all the threads.
        epsilon_at = precomputed(self.epsilon_at_times, hp.sampler_steps, x1.dtype)

        def deterministic_chain(x: Tensor) -> Tensor:
            if hp.sampler == "dpm-solver++":
                return sample_dpm_solver(self.schedule, epsilon_at, x, hp.sampler_steps, chunk_rows)
            return sample_chain(self.schedule, epsilon_at, x, hp.sampler_steps, 0.0, None, chunk_rows)

        return on_threads_by_rows(deterministic_chain, x1)

    def log_prob(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """log p(x) by the probability-flow ODE (dopri5 from ``ode_t_min`` to 1)."""
        return self._log_prob_from(x, self.hparams.ode_t_min, generator)

    def _log_prob_from(self, x: Tensor, start: float, generator: torch.Generator | None = None) -> Tensor:
        """log p_start(x): the probability-flow ODE from diffusion time ``start`` to 1, its
        divergence exact up to 16 dimensions and Hutchinson's above (``divergence="auto"``)."""
        hp = self.hparams
        divergence = hp.divergence
        if divergence == "auto":
            divergence = "exact" if math.prod(self.event_shape) <= 16 else "hutchinson"
        log_p, result = probability_flow_log_prob(self.schedule, self.epsilon, x, start, hp.ode_solver(), divergence, generator)
        self.nfe_log_prob.add(result.nfe)
        return log_p

    # -- the plots' paths and densities over time (as the continuous flows give them) -------

    def diffusion_time(self, flow_time: Tensor) -> Tensor:
        """The diffusion time s of the plots' flow time τ: τ = 0 is the noise (s = 1), τ = 1 the
        data (s = ``ode_t_min``), evenly between, so a flow's and a diffusion's pictures read alike."""
        tau = widened(flow_time)
        return (1.0 - tau) + tau * self.hparams.ode_t_min  # this form ends exactly at t_min

    @torch.no_grad()
    def trajectories(self, z: Tensor, times: Tensor) -> Tensor:
        """States of the probability-flow ODE started at noise ``z`` at each of the flow times
        ``times`` (see :meth:`diffusion_time`): ``(len(times), *z.shape)``; the last is what
        ``sampler="ode"`` draws from ``z``."""
        hp = self.hparams
        field = probability_flow_field(self.schedule, self.epsilon, hp.ode_t_min)
        states = integrate(field, z.to(self.device), self.diffusion_time(times).tolist(), hp.ode_solver()).states
        assert isinstance(states, Tensor)
        return states

    @torch.no_grad()
    def log_prob_at(self, x: Tensor, t: float) -> Tensor:
        """``log p_s(x)`` at the diffusion time s of flow time ``t``: the density of the
        probability-flow ODE's state there, by the same solve as :meth:`log_prob` from s to 1
        (t = 1 is the model, t = 0 the standard normal it starts from)."""
        if t <= 0:
            return standard_normal_log_prob(x)
        return self._log_prob_from(x, float(self.diffusion_time(torch.tensor(float(t)))))

    def reset_nfe(self) -> None:
        self.nfe_sample.reset()
        self.nfe_log_prob.reset()

