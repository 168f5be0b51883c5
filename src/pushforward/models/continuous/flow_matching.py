"""``cfm``, ``otcfm``, ``rectified``: continuous flows trained by regression on a probability path.

Instead of solving the ODE during training, draw noise x0, data x1 and a time t, put a point on
the path between them and regress the field on the path's velocity there:
``E ‖f(t, x_t) − u_t‖²``. Its minimiser is the field whose flow carries N(0, I) to the data
(the marginal of the conditional paths); the exact likelihood then comes from the same ODE as
for any continuous flow.

* ``cfm`` — Lipman, Chen, Ben-Hamu, Nickel, Le, "Flow matching for generative modeling",
  ICLR 2023: the optimal-transport conditional path ``x_t = (1 − (1 − σ) t) x0 + t x1`` with
  velocity ``x1 − (1 − σ) x0`` (``path="lipman"``, ``sigma`` = σ_min);
* ``otcfm`` — Tong et al., "Improving and generalizing flow-based generative models with
  minibatch optimal transport", TMLR 2024: x0 and x1 paired by exact minibatch OT (POT), the
  straight path ``x_t = (1 − t) x0 + t x1 + σ ε`` with velocity ``x1 − x0`` (``path="linear"``);
* ``rectified`` — Liu, Gong, Liu, "Flow straight and fast: learning to generate and transfer
  data with rectified flow", ICLR 2023: independent pairs on the straight path with σ = 0
  (the first rectified flow; "reflow" on its own samples is not done here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from pushforward.errors import UserError
from pushforward.models.base import register, stratified_uniform
from pushforward.models.continuous.couplings import blockwise_ot_pairing
from pushforward.models.continuous.fields import VectorField, VPredictionField
from pushforward.models.continuous.model import (
    ContinuousFlow,
    ContinuousHyperparameters,
    check_choice,
    check_integer,
    check_nonnegative,
    check_positive,
)
from pushforward.nn.mlp import Activation
from pushforward.unread_settings import ReadOnlyIf

VALIDATION_SEED = 20230501
VALIDATION_CHUNK = 1024


@dataclass
class FlowMatchingHyperparameters(ContinuousHyperparameters):
    """Flow-matching settings: the field and evaluation solver (shared), then the regression.

    ``coupling`` pairs noise and data "independent"ly or by minibatch "ot"; ``path`` is
    "lipman" (σ shrinks the noise end) or "linear" (σ is a constant Gaussian width around the
    straight line); ``sigma`` ≥ 0. Minibatch OT pairs points within blocks of ``ot_block``
    (an exact assignment costs about n³, so a whole large batch would dominate the step).

    ``parameterization``: "v" (default) writes the field as the straight path's velocity
    through a network that predicts the diffusion's v and sees the noise level at every layer
    (:class:`~pushforward.models.continuous.fields.VPredictionField`), and weighs the squared
    error by s² = t² + (1 − t)², which makes the loss ‖v − v_θ‖² (bounded at both ends);
    "velocity" is a plain MLP on (x, t) regressed on the velocity itself. ``time_sampling``:
    "logit" (default) draws logit(t) uniformly in [``logit_min``, ``logit_max``] (stratified over
    the batch), i.e. the log-SNR uniformly as ``ddpm`` does, over the levels that shape the
    density; "power" draws ``t = u^time_power``.
    Any law of t and any positive weight have the same minimiser; they change where a finite
    network spends its accuracy. With the v-field and logit times (and the training defaults
    below) the KL gap after 60 s on the checkerboard fell from 0.055–0.062 to 0.037–0.040 nats
    (``rectified`` seeds 0 / 1 / 2: 0.0365 / 0.0398 / 0.0386, ``cfm`` seed 0: 0.0371; 2026-12-03,
    ~10k steps); on the way, seed 0: the v-field with logit times but velocity weighting 0.054,
    with the s² weighting 0.046 at lr 8e-3, 0.041 at lr 6e-3, 0.034 keeping the last weights.
    Training only from logit(t) = ``logit_min`` = −2 (t ≈ 0.12) rather than −9.2 lowered it again
    (seeds 0 / 1 / 2: 0.0315 / 0.0314 / 0.0307 against 0.0365 / 0.0398 / 0.0386; seed 0 at
    −4: 0.033, at −1: 0.035, at 0: 0.13; −3: 0.0286 / 0.0317 on seeds 1 / 2): the noisiest
    levels, where v hardly depends on the data's shape, took half of every batch. Weighting the
    error as the ELBO does (t²‖u − u_θ‖², seed 0) gave 0.040, a sigmoid weighting 0.083.
    Stopping at ``logit_max`` = 7 (t ≈ 0.9991; the network reads the level 7 above it, the path
    coefficients stay exact) rather than 9.2 lowered it once more: seeds 0 / 1 / 2 0.0297 /
    0.0265 / 0.0262 (9.2k–11.2k steps); seed 0 at 12: 0.0331, at 5: 0.0284 (seed 1: 0.0300).
    Under "power" times, on the plain MLP (20k steps): KL gap 0.169 (power 1), 0.140 (1/2),
    0.131 (1/3).

    The field sees ``space_features`` = 32 random Fourier features of x of bandwidth
    ``space_scale`` = 0.5 (Tancik et al., 2020): near t = 1 the marginal velocity jumps at the
    edges of the data's support, which a plain MLP on (x, t) smooths over. On the checkerboard
    (``rectified``, 1 contended CPU thread): 5k steps, KL gap 0.276 without, 0.134 with
    (scale 0.3: 0.143, 1: 0.176, 2: 0.234; 16 features: 0.198, 64: 0.124 but 25% slower per
    step); 60 s of training, 0.123 → 0.062 for 7% fewer steps.
    """

    # Runs saved before these settings existed had a plain MLP field on power-law times and
    # equal sampling steps; they load as they were.
    VALUES_BEFORE_THE_SETTING_EXISTED: ClassVar[dict[str, object]] = {
        "parameterization": "velocity",
        "time_sampling": "power",
        "sample_grid_power": 1.0,
        "points_per_level": 1,
        "time_scale": False,
    }

    activation: Activation = "silu"
    # Regression-trained fields are nearly straight: against dopri5 at 1e-6 from the same noise,
    # RK4 moves samples by 0.0006 (8 steps) / 0.0017 (6) / 0.0073 (4) on average (standardised
    # units; energy distance to the reference 1e-6, 2000x below its noise floor at 6 steps), and
    # 6 steps sample 100k points in 1.26 s instead of 1.75 s (1 contended thread).
    sample_steps: int = 6
    # The v-field changes fastest near the data, where it carves the edges: the 6 steps shrink
    # towards t = 1 (at 1 − (1 − i/6)^1.5). Trained 60 s (2026-12-03), against dopri5 at 1e-6:
    # mean displacement 0.0024 against 0.0058 for equal steps, samples outside the squares
    # 1.4 % against 3.4 % (dopri5: 1.3 %); powers 1.25 and 2 gave 0.0031–0.0033.
    sample_grid_power: float = 1.5
    space_features: int = 32
    space_scale: float = 0.5
    coupling: str = "independent"
    path: str = "lipman"
    sigma: float = 1e-4
    # Minibatch OT in blocks of 32: in a 60 s budget otcfm is limited by its steps, and every
    # block's exact assignment costs CPU time. Checkerboard, 60 s, seed 0 (2026-12-03), batch
    # 2048: blocks of 256 by POT's network simplex ~1k steps, KL gap 0.31; by linear assignment,
    # blocks of 128: 2,109 steps, 0.204; 64: 4,553 steps, 0.114; 32: 5,174 steps, 0.090
    # (rectified, with no pairing, ~10k steps and 0.027 in the same budget).
    ot_block: int = 32
    time_power: float = 1 / 3
    parameterization: str = "v"
    time_sampling: str = "logit"
    logit_min: float = -2.0
    logit_max: float = 7.0
    # Runs of 16 consecutive points of a batch share one time (2,048 points: 128 evenly spaced
    # levels), so the network's time path, an MLP as large as its main path, runs on 128 rows
    # rather than 2,048. Each point's time is still uniform in logit over the range. rectified
    # at an equal 8,000 steps (seeds 0 / 1 / 2, one thread, 2026-12-03): KL gap 0.0303 / 0.0303
    # / 0.0291 against 0.0305 / 0.0309 / 0.0295 with a time per point, in 0.73x the CPU time.
    points_per_level: int = 16
    # The time path also scales the v-network's hidden units (FiLM, see TimeConditionedMLP),
    # free when sampling. cfm, 60 s, seeds 0 / 1, 2 threads (2026-12-04): KL gap 0.0179 / 0.0195
    # against 0.0257 / 0.0256 with shifts alone; energy ratio (40 draws) 1.27 / 0.88 against
    # 1.18 / 0.91, within its standard error of about 0.1.
    time_scale: bool = True

    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = ContinuousHyperparameters.unread_rules + (
        ReadOnlyIf(("time_power",), lambda h: h.time_sampling == "power", "when time_sampling=power", ("time_sampling",),
                   "use --set time_sampling=power"),
        # The v-field also clamps its time input to them.
        ReadOnlyIf(("logit_min", "logit_max"), lambda h: h.time_sampling == "logit" or h.parameterization == "v",
                   "when time_sampling=logit or parameterization=v", ("time_sampling", "parameterization"),
                   "use --set time_sampling=logit"),
        ReadOnlyIf(("ot_block",), lambda h: h.coupling == "ot", "when coupling=ot", ("coupling",), "use --model otcfm"),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("parameterization", self.parameterization, ("v", "velocity"))
        check_choice("time_sampling", self.time_sampling, ("logit", "power"))
        if not -float("inf") < self.logit_min < self.logit_max < float("inf"):
            raise UserError(
                f"logit_min must be below logit_max, both finite, not {self.logit_min} and {self.logit_max}",
                "use --set logit_min=-2 --set logit_max=7",
            )
        check_integer("ot_block", self.ot_block, 2)
        check_integer("points_per_level", self.points_per_level, 1)
        check_positive("time_power", self.time_power)
        check_choice("coupling", self.coupling, ("independent", "ot"))
        check_choice("path", self.path, ("lipman", "linear"))
        check_nonnegative("sigma", self.sigma)


# Tuned on the checkerboard with step budgets (1 CPU thread, shared machine): the regression
# target is noisy (independent pairs leave a large irreducible loss), so large batches with a
# proportionally larger learning rate and an EMA of the weights help most; a 3 × 64 field beat
# 3 × 128 per second of training, and samples 4× faster. Batch 512 / 1024 / 2048 / 4096 at
# 20k / 20k / 20k / 10k steps: KL gap 0.27 (1024) → 0.17 (2048, lr 4e-3) → 0.19 (4096, lr 8e-3).
# The learning rate, at batch 2048 and an equal 24k steps on the checkerboard
# (benchmarks/settings_at_equal_steps.py): lr 4e-3 → 8e-3 lowers the KL gap of rectified from
# 0.0608 to 0.0494 (seed 0) and 0.0689 to 0.0561 (seed 1), of cfm from 0.0608 to 0.0495; lr 1.2e-2
# was unstable. With the v-field (2026-12-03, 60 s, seed 0): lr 6e-3 0.041 against 8e-3 0.046,
# and keeping the last weights rather than those of the best validation loss 0.034 against
# 0.041: the regression loss on 4,096 validation points is too noisy to rank late checkpoints
# (it picked step ~7.7k of ~10.5k in every run), while the EMA and the learning-rate decay keep
# improving the field to the end; for the same reason it does not stop training early.
FLOW_MATCHING_TRAINING = {"batch_size": 2048, "lr": 6e-3, "ema_decay": 0.999, "keep_best": False, "patience": 0}


@register(
    "cfm",
    family="continuous",
    summary="Flow matching: regression on optimal-transport conditional paths (Lipman et al., 2023)",
    train_defaults=FLOW_MATCHING_TRAINING,
)
class FlowMatching(ContinuousFlow):
    hyperparameters_class = FlowMatchingHyperparameters
    validation_name = "val_fm_loss"
    validation_is_nll = False  # not a log-density: reported as the model computes it

    def __init__(self, event_shape: tuple[int, ...], hparams: FlowMatchingHyperparameters) -> None:
        field: VectorField
        if hparams.parameterization == "v":
            field = VPredictionField(
                event_shape,
                hparams.hidden_features,
                hparams.hidden_layers,
                hparams.activation,
                hparams.space_features,
                hparams.space_scale,
                hparams.logit_min,
                hparams.logit_max,
                time_scale=hparams.time_scale,
            )
        else:
            field = hparams.mlp_field(event_shape)
        super().__init__(event_shape, hparams, field)

    def training_times(self, n: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Times of one batch: ``t = u^time_power`` or logit-uniform (stratified), see the settings."""
        hp = self.hparams
        if hp.time_sampling == "power":
            return torch.rand(n, generator=generator, device=like.device, dtype=like.dtype).pow(hp.time_power)
        # Stratified, as ddpm's noise levels: the batch covers the log-SNR range evenly.
        u = stratified_uniform(n, generator, like.device, like.dtype, hp.points_per_level)
        return torch.sigmoid(hp.logit_min + (hp.logit_max - hp.logit_min) * u)

    def regression_loss(self, x1: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Mean squared error between the field and the path's velocity on one draw of (x0, t, ε)."""
        hp = self.hparams
        n = x1.shape[0]
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
        if hp.coupling == "ot":
            # Exact OT costs ~n³: pairing within blocks keeps it a smaller part of a step.
            x0 = x0[blockwise_ot_pairing(x0, x1, hp.ot_block)]
        t = self.training_times(n, x1, generator)
        tb = t.reshape(n, *([1] * (x1.dim() - 1)))
        if hp.path == "lipman":
            xt = (1 - (1 - hp.sigma) * tb) * x0 + tb * x1
            target = x1 - (1 - hp.sigma) * x0
        else:
            xt = (1 - tb) * x0 + tb * x1
            if hp.sigma > 0:
                xt = xt + hp.sigma * torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
            target = x1 - x0
        residual = self.field(t, xt) - target
        per_point = residual.reshape(n, -1).pow(2).sum(dim=1)
        if hp.parameterization == "v":
            # s² ‖u − u_θ‖² = ‖v − v_θ‖² (see VPredictionField): the loss on the network's own
            # target, the v-prediction loss of diffusion, bounded at both ends of the path.
            per_point = per_point * VPredictionField.path_scale_squared(t)
        return per_point.mean()

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        return {"loss": self.regression_loss(x)}

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        # The regression loss with fixed noise: no ODE solve, so validating costs little; it
        # tracks the likelihood because the field's error bounds the KL of its flow.
        generator = torch.Generator(device=x.device).manual_seed(VALIDATION_SEED)
        # Chunks of a training batch's size, so minibatch OT pairs points as in training.
        chunks = self.validation_subset(x).split(VALIDATION_CHUNK)
        return sum(float(self.regression_loss(chunk, generator)) * len(chunk) for chunk in chunks) / sum(map(len, chunks))


register(
    "otcfm",
    family="continuous",
    summary="Flow matching with minibatch optimal-transport couplings (Tong et al., 2024)",
    preset={"coupling": "ot", "path": "linear", "sigma": 0.0},
    train_defaults=FLOW_MATCHING_TRAINING,
)(FlowMatching)


register(
    "rectified",
    family="continuous",
    summary="Rectified flow: straight paths between independent pairs (Liu et al., 2023)",
    preset={"coupling": "independent", "path": "linear", "sigma": 0.0},
    train_defaults=FLOW_MATCHING_TRAINING,
)(FlowMatching)
