"""Named flows, each a short recipe over the shared pieces, registered for ``create(name, ...)``.

* ``realnvp`` — affine couplings: Dinh, Sohl-Dickstein, Bengio, "Density estimation using Real
  NVP", ICLR 2017.
* ``maf`` — MADE affine autoregressive layers with alternating orders: Papamakarios, Pavlakou,
  Murray, "Masked Autoregressive Flow for Density Estimation", NeurIPS 2017.
* ``nsf`` — rational-quadratic spline couplings (or autoregressive layers): Durkan, Bekasov,
  Murray, Papamakarios, "Neural Spline Flows", NeurIPS 2019.

ActNorm and the LU linear layer between steps follow Kingma & Dhariwal, "Glow", NeurIPS 2018.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from pushforward.errors import UserError
from pushforward.models.base import register
from pushforward.models.flows.autoregressive import MaskedAutoregressive
from pushforward.models.flows.conditioners import mlp_conditioner
from pushforward.models.flows.coupling import Coupling
from pushforward.models.flows.elementwise import AffineKernel, ElementwiseKernel, SplineKernel
from pushforward.models.flows.flow import Flow
from pushforward.models.flows.linear import LULinear, Permutation
from pushforward.models.flows.normalization import ActNorm
from pushforward.models.flows.transforms import Transform
from pushforward.nn.mlp import ACTIVATIONS, Activation

LinearKind = Literal["auto", "lu", "permutation", "none"]
LINEAR_KINDS: tuple[str, ...] = get_args(LinearKind)


# -- validation -------------------------------------------------------------------------------


def _at_least(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, not {value!r}", f"use --set {name}=<integer >= {minimum}>")


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise UserError(f"{name} must be a positive number, not {value!r}", f"use --set {name}=<number > 0>")


def _one_of(name: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise UserError(f"'{value}' is not a valid value for {name}", f"use one of: {', '.join(choices)}")


def _validate_network(hp: RealNVPHyperparameters | MAFHyperparameters | NSFHyperparameters) -> None:
    _at_least("layers", hp.layers, 1)
    _at_least("hidden_features", hp.hidden_features, 1)
    _at_least("hidden_layers", hp.hidden_layers, 0)
    _one_of("activation", hp.activation, list(ACTIVATIONS))
    _boolean("actnorm", hp.actnorm)


def _boolean(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise UserError(f"{name} must be true or false, not {value!r}", f"use --set {name}=true or {name}=false")


# -- hyperparameters --------------------------------------------------------------------------


@dataclass
class RealNVPHyperparameters:
    """RealNVP settings.

    ``layers`` coupling steps, each with an MLP conditioner of ``hidden_layers`` × ``hidden_features``;
    ``log_scale_bound`` soft-clamps each step's log-scale; ``actnorm`` puts an ActNorm before
    each step and ``linear`` a mixing layer ("lu": learned, "permutation": reversal, "none").
    ``fourier_features`` random Fourier features of bandwidth ``fourier_scale`` go into each
    conditioner beside its input (see :class:`~pushforward.models.flows.conditioners.FlatMLP`).
    """

    layers: int = 8
    hidden_features: int = 128
    hidden_layers: int = 2
    activation: Activation = "relu"
    log_scale_bound: float = 3.0
    actnorm: bool = False
    linear: LinearKind = "none"
    fourier_features: int = 0
    fourier_scale: float = 0.5

    def __post_init__(self) -> None:
        _validate_network(self)
        _positive("log_scale_bound", self.log_scale_bound)
        _one_of("linear", self.linear, LINEAR_KINDS)
        _at_least("fourier_features", self.fourier_features, 0)
        _positive("fourier_scale", self.fourier_scale)


@dataclass
class MAFHyperparameters:
    """MAF settings.

    ``layers`` MADE affine steps (consecutive ones in reversed orders), each MADE with
    ``hidden_layers`` × ``hidden_features``; ``log_scale_bound`` soft-clamps the log-scales;
    ``actnorm`` puts an ActNorm before each step. Sampling takes D network passes per step.
    """

    layers: int = 5
    hidden_features: int = 128
    hidden_layers: int = 2
    activation: Activation = "relu"
    log_scale_bound: float = 3.0
    actnorm: bool = False

    def __post_init__(self) -> None:
        _validate_network(self)
        _positive("log_scale_bound", self.log_scale_bound)


@dataclass
class NSFHyperparameters:
    """Neural spline flow settings.

    ``layers`` spline steps with ``bins`` bins on [-``bound``, ``bound``] (identity outside),
    conditioned by an MLP (or, with ``autoregressive=True``, a MADE, whose sampling takes D
    passes per step) of ``hidden_layers`` × ``hidden_features``; ``actnorm`` puts an ActNorm
    before each step and ``linear`` a mixing layer ("lu": learned, "permutation": reversal, "none",
    "auto": none for 2 features, lu for more). ``fourier_features`` random Fourier features of
    bandwidth ``fourier_scale`` go into each coupling's conditioner beside its input (see
    :class:`~pushforward.models.flows.conditioners.FlatMLP`); ``None`` means 16 for couplings and
    none for autoregressive layers, whose masks need every input to stay a single coordinate.
    On the checkerboard, 16 features halved the time to a given KL gap (see BENCHMARKS.md).
    """

    layers: int = 6
    hidden_features: int = 64
    hidden_layers: int = 2
    bins: int = 32
    bound: float = 4.0
    activation: Activation = "relu"
    actnorm: bool = False
    linear: LinearKind = "auto"
    autoregressive: bool = False
    fourier_features: int | None = None
    fourier_scale: float = 0.5

    # Runs saved before the Fourier features existed had none: ``load`` rebuilds them that way.
    VALUES_BEFORE_THE_SETTING_EXISTED: ClassVar[dict[str, object]] = {"fourier_features": 0}

    def __post_init__(self) -> None:
        _validate_network(self)
        _at_least("bins", self.bins, 2)
        _positive("bound", self.bound)
        _one_of("linear", self.linear, LINEAR_KINDS)
        _boolean("autoregressive", self.autoregressive)
        if self.fourier_features is not None:
            _at_least("fourier_features", self.fourier_features, 0)
            if self.autoregressive and self.fourier_features > 0:
                raise UserError(
                    "Fourier features apply to coupling conditioners, not to autoregressive (MADE) layers",
                    "use --set fourier_features=0 with autoregressive=true",
                )
        _positive("fourier_scale", self.fourier_scale)

    def conditioner_features(self) -> int:
        """How many Fourier features each coupling conditioner gets (resolving ``None``)."""
        if self.fourier_features is not None:
            return self.fourier_features
        return 0 if self.autoregressive else 16


# -- shared recipe pieces ---------------------------------------------------------------------


def _mixing(features: int, linear: LinearKind) -> list[Transform]:
    if linear == "auto":
        # In 2-D the alternating halves already condition each coordinate on the other, and a
        # random rotation would only misalign axis-aligned structure (edges, grids) that the
        # element-wise splines fit best; from 3 features on, learned mixing lets every
        # coordinate interact with every other.
        linear = "none" if features <= 2 else "lu"
    if linear == "lu":
        return [LULinear(features)]
    if linear == "permutation":
        return [Permutation.reverse(features)]
    return []


def _step_prefix(features: int, actnorm: bool, linear: LinearKind) -> list[Transform]:
    """What precedes each step's main transform: ``[ActNorm] → [mixing]``."""
    return ([ActNorm(features)] if actnorm else []) + _mixing(features, linear)


def coupling_stack(
    event_shape: tuple[int, ...],
    kernel: ElementwiseKernel,
    *,
    layers: int,
    hidden_features: int,
    hidden_layers: int,
    activation: Activation,
    actnorm: bool,
    linear: LinearKind,
    fourier_features: int = 0,
    fourier_scale: float = 1.0,
) -> list[Transform]:
    """Glow-style steps ``[ActNorm] → [linear] → coupling``, alternating which half is transformed.

    A reversing permutation already alternates the halves, so with ``linear="permutation"`` the
    parity stays fixed (alternating it too would transform the same half every time).
    """
    features = event_shape[0]
    conditioner = mlp_conditioner(hidden_features, hidden_layers, activation, fourier_features, fourier_scale)
    transforms: list[Transform] = []
    for i in range(layers):
        transforms += _step_prefix(features, actnorm, linear)
        parity = 0 if linear == "permutation" else i % 2
        transforms.append(Coupling(event_shape, kernel, parity=parity, conditioner=conditioner))
    return transforms


def autoregressive_stack(
    event_shape: tuple[int, ...],
    kernel: ElementwiseKernel,
    *,
    layers: int,
    hidden_features: int,
    hidden_layers: int,
    activation: Activation,
    actnorm: bool,
    linear: LinearKind = "none",
) -> list[Transform]:
    """Steps ``[ActNorm] → [linear] → masked autoregressive``, reversing the order on odd steps.

    As in :func:`coupling_stack`, a reversing permutation replaces the order reversal.
    """
    features = event_shape[0]
    transforms: list[Transform] = []
    for i in range(layers):
        transforms += _step_prefix(features, actnorm, linear)
        reverse = linear != "permutation" and i % 2 == 1
        transforms.append(
            MaskedAutoregressive(
                event_shape, kernel, hidden_features, hidden_layers, activation, reverse=reverse
            )
        )
    return transforms


# -- the registered recipes -------------------------------------------------------------------


def _network_options(hp: RealNVPHyperparameters | MAFHyperparameters | NSFHyperparameters) -> dict[str, object]:
    """The step-stack settings every recipe shares."""
    return {
        "layers": hp.layers,
        "hidden_features": hp.hidden_features,
        "hidden_layers": hp.hidden_layers,
        "activation": hp.activation,
        "actnorm": hp.actnorm,
    }


@register("realnvp", family="flow", summary="RealNVP: affine coupling layers (Dinh et al., 2017)")
class RealNVP(Flow):
    hyperparameters_class = RealNVPHyperparameters

    def __init__(self, event_shape: tuple[int, ...], hparams: RealNVPHyperparameters) -> None:
        kernel = AffineKernel(hparams.log_scale_bound)
        transforms = coupling_stack(
            tuple(event_shape),
            kernel,
            linear=hparams.linear,
            fourier_features=hparams.fourier_features,
            fourier_scale=hparams.fourier_scale,
            **_network_options(hparams),
        )
        super().__init__(event_shape, hparams, transforms)


@register("maf", family="flow", summary="MAF: masked autoregressive affine layers (Papamakarios et al., 2017)")
class MAF(Flow):
    hyperparameters_class = MAFHyperparameters

    def __init__(self, event_shape: tuple[int, ...], hparams: MAFHyperparameters) -> None:
        kernel = AffineKernel(hparams.log_scale_bound)
        transforms = autoregressive_stack(tuple(event_shape), kernel, **_network_options(hparams))
        super().__init__(event_shape, hparams, transforms)


# Defaults tuned on the checkerboard under a 60 s CPU budget (BENCHMARKS.md): many bins because
# sharp edges are where the KL gap lives; large batches with a proportionally higher learning
# rate because CPU time per sample falls with batch size and the spline's knots and the
# conditioner's steps sharpen at a rate set by the learning rate.
@register(
    "nsf",
    family="flow",
    summary="Neural spline flow: rational-quadratic spline couplings (Durkan et al., 2019)",
    train_defaults={"batch_size": 4096, "lr": 8e-3},
)
class NSF(Flow):
    hyperparameters_class = NSFHyperparameters

    def __init__(self, event_shape: tuple[int, ...], hparams: NSFHyperparameters) -> None:
        kernel = SplineKernel(hparams.bins, hparams.bound)
        if hparams.autoregressive:
            transforms = autoregressive_stack(tuple(event_shape), kernel, linear=hparams.linear, **_network_options(hparams))
        else:
            transforms = coupling_stack(
                tuple(event_shape),
                kernel,
                linear=hparams.linear,
                fourier_features=hparams.conditioner_features(),
                fourier_scale=hparams.fourier_scale,
                **_network_options(hparams),
            )
        super().__init__(event_shape, hparams, transforms)
