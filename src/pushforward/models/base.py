"""The common interface of every model family, and the registry that names them.

Every family — discrete and continuous flows, VAEs, GANs, diffusion — is a
:class:`GenerativeModel`: an ``nn.Module`` with an ``event_shape``, ``sample`` and ``log_prob``,
and a training objective made of named parameter groups with a loss for each. The trainer, the
CLI, the metrics and the plots only ever talk to this face, so a new family is one module and
one :func:`register` call.

Conventions:

* a model works in the *normalized* space produced by the preprocessing
  (:mod:`pushforward.data.preprocessing`); the fitted-model wrapper in :mod:`pushforward.api`
  maps samples and log-densities back to the data's own units;
* ``log_prob`` is in nats; :attr:`GenerativeModel.likelihood` says whether it is ``"exact"``,
  an ``"estimate"``, a ``"bound"`` or not available (``"none"``, which raises
  :class:`~pushforward.errors.NotTractable`).
"""

from __future__ import annotations

import abc
import importlib
import math

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from pushforward.device import widened
from pushforward.errors import NotTractable, UserError, suggest
from pushforward.hparams import build
from pushforward.names import BUILTIN_MODELS

LikelihoodKind = Literal["exact", "estimate", "bound", "none"]


def precise_mean(values: Tensor) -> float:
    """The mean of ``values`` summed in float64 on the CPU: a score summed over many points in
    float32 loses digits that successive validations compare. Moved to the CPU first because
    MPS has no float64 (its tensors refuse the cast); then widened like every other sum."""
    return float(widened(values.detach().cpu()).mean())


class GenerativeModel(nn.Module, abc.ABC):
    """A learned map g pushing a standard Gaussian onto the data's distribution.

    Subclasses set :attr:`hyperparameters_class` (a dataclass) and implement :meth:`sample`,
    and, where the family has one, :meth:`log_prob`.
    """

    likelihood: ClassVar[LikelihoodKind] = "exact"
    hyperparameters_class: ClassVar[type] = object
    #: Points per axis of the density heat map ``plot`` draws of 2-D data. Models whose
    #: ``log_prob`` solves an ODE or averages importance samples take
    #: :data:`COSTLY_DENSITY_GRID`.
    density_grid: ClassVar[int] = 200

    def __init__(self, event_shape: tuple[int, ...], hparams: Any) -> None:
        super().__init__()
        if len(event_shape) == 0 or any(int(s) < 1 for s in event_shape):
            raise UserError(f"event shape {tuple(event_shape)} is not valid", "give one or more positive sizes")
        self.event_shape: tuple[int, ...] = tuple(int(s) for s in event_shape)
        self.hparams = hparams

    # -- what every family answers ---------------------------------------------------------

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples of shape ``(n, *event_shape)`` on the model's device."""

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density (nats) of each row of ``x``, shape ``(n,)``; see :attr:`likelihood`."""
        raise NotTractable(
            f"the likelihood is not tractable for {type(self).__name__}",
            "use the sample-based metrics (energy distance, MMD, classifier test) instead",
        )

    # -- the training objective ------------------------------------------------------------

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Named groups of parameters, each with its own optimizer and loss."""
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def step_plan(self) -> list[tuple[str, int]]:
        """The order of optimizer steps in one training iteration: ``(group, repeats)``."""
        return [(name, 1) for name in self.parameter_groups()]

    def final_phase(self) -> tuple[float, list[tuple[str, int]]] | None:
        """A last phase of training, or ``None``: ``(fraction of the budget, its step plan)``.

        The trainer runs :meth:`step_plan` over the first ``1 − fraction`` of the budget (its
        schedule annealing there), then this plan over the rest, its groups' schedule restarted
        — e.g. a GAN calibrating a discriminator on the frozen generator for rejection sampling.
        """
        return None

    def after_step(self, group: str, learning_rate_factor: float = 1.0) -> None:
        """Called after each optimizer step of ``group`` (e.g. a GAN critic's weight clipping),
        with that step's learning rate as a fraction of the group's base rate: the schedule's
        factor, below 1 during the warm-up and the decay (a VAE's KL warm-up counts by it)."""

    def start_training(self) -> None:
        """Called by the trainer before it trains, fresh or resumed, so that training never sees
        what :meth:`finish_training` chose where that would change the objective (a VAE's
        decoder-noise scale: its ELBO is worse away from 1, so a resumed run's scores would not
        compare with those before). Nothing by default."""

    def finish_training(self, validation: Tensor, seconds: float | None = None) -> None:
        """Called once, without autograd, on the kept weights when training ends without
        diverging, with the validation split: a last choice made on held-out data (a GAN picks
        its rejection sampler's bound here). Whatever it sets must live in the state dict.

        ``seconds`` is the time it should take: what is left of a time budget, of which the
        trainer held back :meth:`finish_time_share`; ``None`` under a step budget."""

    def finish_time_share(self) -> float:
        """The share of a time budget to hold back for :meth:`finish_training` (0 by default)."""
        return 0.0

    def sampling_facts(self) -> dict[str, Any]:
        """JSON-ready facts about how :meth:`sample` draws, for ``eval`` to report beside the
        sample metrics (a GAN's rejection bound and acceptance rate, a VAE's decoder-noise
        scale); none by default."""
        return {}

    def diagnostics(self, x: Tensor) -> dict[str, Any]:
        """JSON-ready checks of the fitted model on held-out points ``x`` (in the model's space,
        after preprocessing), for ``eval`` to report (a VAE's active latent dimensions); none by
        default."""
        return {}

    def warnings(self, diagnostics: dict[str, Any]) -> list[str]:
        """One-line warnings about the fitted model, each naming the problem and what to change,
        read from what :meth:`diagnostics` found on held-out points (a VAE's collapsed latent
        direction) or from the model's own state; ``fit``, ``eval`` and ``compare`` print them.
        None by default."""
        return []

    def optimizer_options(self, group: str) -> dict[str, Any]:
        """Per-group overrides of the trainer's optimizer settings (``lr``, ``betas``, ...)."""
        return {}

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        """Loss for ``group`` on a batch ``x``; the dict holds ``"loss"`` plus scalars to log.

        The default is maximum likelihood: the mean negative log-density in nats.
        """
        nll = -self.log_prob(x).mean()
        return {"loss": nll}

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        """Lower is better; used for early stopping and keeping the best weights.

        The default is the mean negative log-density in nats, computed in chunks.
        """
        return -precise_mean(batched_log_prob(self, x))

    validation_name: ClassVar[str] = "val_nll"
    #: Whether :meth:`validation_score` is a mean negative log-density, or a bound on one (a
    #: VAE's −ELBO), in nats per point of the standardised data the model sees. ``fit`` then
    #: reports it in the data's units, shifted by the preprocessing's log-determinant as ``eval``
    #: shifts its test NLL, under the name ``<validation_name>_data`` (see
    #: :meth:`pushforward.api.FittedModel.validation_report`). A model whose score is anything
    #: else (a GAN's energy distance, a regression loss) sets it to False: no shift makes such a
    #: score a quantity of the data's units.
    validation_is_nll: ClassVar[bool] = True

    def divergence_advice(self) -> str | None:
        """What to change when training produces a non-finite loss, or ``None`` for the trainer's
        generic advice (lower the learning rate, clip gradients)."""
        return None

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    def hyperparameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self.hparams) if dataclasses.is_dataclass(self.hparams) else {}


VALIDATION_CHUNK = 16384


COSTLY_DENSITY_GRID = 128
"""The heat map's points per axis for models whose ``log_prob`` is costly: 16,384 points instead
of 40,000. On the slow 2-CPU machine (2026-12-05, `pushforward demo`) the 200 × 200 figure took
about 30 s for `rectified` and `ddpm` (dopri5 per point) and about 15 s for `vae` (K = 100
importance samples per point), more than each one's test NLL on 20,000 points; the five-minute
demo ran to 5 min 48 s. At 128 per axis a square of the checkerboard still spans 28 cells."""


@torch.no_grad()
def batched_log_prob(model: GenerativeModel, x: Tensor, chunk: int = VALIDATION_CHUNK) -> Tensor:
    """``model.log_prob`` over ``x`` in chunks, so large sets fit in memory."""
    return torch.cat([model.log_prob(part) for part in x.split(chunk)])


SAMPLE_CHUNK_ROWS = 8192
"""Rows per piece when a flow samples on the CPU (:func:`in_row_chunks`; a continuous flow's field
is evaluated in such pieces, see ``RowChunkedField``): a piece's activations
(8,192 × 64 float32 = 2 MiB per layer) stay in the cores' caches through the layers and every
solver stage, where 100,000 rows (25 MiB per 64-wide layer) stream through memory. Measured for
nsf, 100,000 samples on 2 threads: 0.17–0.19 s in pieces of 8,192 rows against 0.25–0.26 s in
one pass (4,096: 0.19–0.20 s; 16,384: 0.20 s); for ``rectified`` together with
:meth:`~pushforward.models.continuous.fields.MLPField.at_time`, a median 0.85 s of CPU time
instead of 1.12 s. (ddpm's sampler measured its own, 32,768.)"""


def stratified_uniform(
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
    points_per_level: int = 1,
) -> Tensor:
    """``n`` draws covering (0, 1) evenly: one uniform offset plus the steps k/K, modulo 1.

    Each draw is still uniform, but a batch of training times or noise levels spreads over the
    whole range instead of clumping, which lowers the variance of the batch's loss (Kingma,
    Salimans, Poole, Ho, "Variational Diffusion Models", NeurIPS 2021). Runs of
    ``points_per_level`` consecutive draws share a value (K = ⌈n / points_per_level⌉ levels; the
    default 1: all distinct), so a time-conditioned network runs its time path once per level
    (see ``TimeConditionedMLP``).
    """
    levels = math.ceil(n / points_per_level)
    offset = torch.rand((), generator=generator, device=device, dtype=dtype)
    values = torch.remainder(offset + torch.arange(levels, device=device, dtype=dtype) / levels, 1.0)
    if levels == n:
        return values
    # Level k is shared by draws k·n/K .. (k+1)·n/K − 1 (equal groups up to one draw).
    return values[torch.arange(n, device=device) * levels // n]


def in_row_chunks(function: Callable[[Tensor], Tensor], x: Tensor, rows: int) -> Tensor:
    """``function(x)`` computed on pieces of at most ``rows`` rows and concatenated.

    Only for a ``function`` that treats rows independently, so the result is the same as one
    call (samplers use it on the CPU, where a piece's activations stay in cache).
    """
    if x.shape[0] <= rows:
        return function(x)
    return torch.cat([function(part) for part in x.split(rows)])


# -- registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEntry:
    """A named, ready-to-train recipe: a model class with some hyperparameters fixed."""

    name: str
    cls: type[GenerativeModel]
    family: str
    summary: str
    preset: dict[str, Any] = field(default_factory=dict)
    train_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def likelihood(self) -> LikelihoodKind:
        return self.cls.likelihood


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str,
    *,
    family: str,
    summary: str,
    preset: dict[str, Any] | None = None,
    train_defaults: dict[str, Any] | None = None,
):
    """Class decorator: make ``cls`` available as ``create(name, ...)``.

    ``preset`` fixes hyperparameters for this name (so ``otcfm`` can be ``cfm`` with OT
    couplings); ``train_defaults`` overrides the trainer's defaults for this model.
    """

    def decorate(cls: type[GenerativeModel]) -> type[GenerativeModel]:
        add_entry(ModelEntry(name, cls, family, summary, dict(preset or {}), dict(train_defaults or {})))
        return cls

    return decorate


def add_entry(entry: ModelEntry) -> None:
    if entry.name in _REGISTRY:
        raise ValueError(f"model name '{entry.name}' is registered twice")
    _REGISTRY[entry.name] = entry


# The family packages; importing one runs its register() calls. They are listed, with the names
# each registers, in names.BUILTIN_MODELS, where `fit` checks a model name before importing torch.
FAMILY_PACKAGES = tuple(dict.fromkeys(BUILTIN_MODELS.values()))


def _load_families() -> None:
    for package in FAMILY_PACKAGES:
        importlib.import_module(package)


def model_names() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    _load_families()
    if name not in _REGISTRY:
        raise UserError(f"unknown model '{name}'", suggest(name, sorted(_REGISTRY)))
    return _REGISTRY[name]


def available_models() -> list[ModelEntry]:
    _load_families()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def create(name: str, event_shape: tuple[int, ...], *, check_unused: bool = True, **hyperparameters: Any) -> GenerativeModel:
    """Build the model registered as ``name`` for events of shape ``event_shape``.

    Hyperparameters may be typed values or strings (as from ``--set``); unknown names raise a
    :class:`UserError` that lists the valid ones, and so does a hyperparameter given here that
    the others leave unused, where the hyperparameter class says which (the ``unread_rules`` of a
    :class:`~pushforward.unread_settings.RefusesUnreadSettings`, e.g. ``rtol`` with a fixed-step
    solver; classes without rules, such as the discrete flows', refuse nothing).
    ``check_unused=False`` is for rebuilding a saved run, whose config lists every value,
    defaults included, so none of them was the user's choice.
    """
    hparams = model_hyperparameters(name, check_unused=check_unused, **hyperparameters)
    return get_entry(name).cls(tuple(event_shape), hparams)


def model_hyperparameters(name: str, *, check_unused: bool = True, **hyperparameters: Any) -> Any:
    """The hyperparameters :func:`create` would build ``name`` with, checked the same way: for
    checking a model's settings before anything is trained (``compare`` checks every model's)."""
    entry = get_entry(name)
    values = {**entry.preset, **hyperparameters}
    hparams = build(entry.cls.hyperparameters_class, values, what=f"'{name}' model")
    refuse_unused = getattr(hparams, "refuse_unused", None)
    if check_unused and refuse_unused is not None:
        # Only the names given here: a default, or a preset's value, was no one's choice.
        refuse_unused(set(hyperparameters))
    return hparams
