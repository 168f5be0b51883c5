"""Time-dependent vector fields ``f(t, x)``: the velocity of a continuous flow, dx/dt = f(t, x).

A field maps a time and a batch of states ``(n, *event_shape)`` to velocities of the same shape
(Chen, Rubanova, Bettencourt, Duvenaud, "Neural ordinary differential equations", NeurIPS 2018).
Everything downstream (solvers, divergences, the models) only calls ``field(t, x)``, so a
convolutional field for images ``(c, h, w)`` slots in as another :class:`VectorField`.
"""

from __future__ import annotations

import abc
import math
import threading
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushforward.models.base import in_row_chunks
from pushforward.nn.embeddings import FourierFeatures, FourierTime
from pushforward.nn.mlp import MLP, Activation, activate
from pushforward.nn.time_conditioned import TimeConditionedMLP

#: ``(event_shape) -> VectorField``: how a model asks for a field without knowing its kind.
FieldFactory = Callable[[tuple[int, ...]], "VectorField"]


class VectorField(nn.Module, abc.ABC):
    """Base class: ``forward(t, x)`` with ``t`` a scalar or ``(n,)`` tensor and ``x`` of shape
    ``(n, *event_shape)``, returning ``dx/dt`` of the same shape as ``x``."""

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.event_shape = tuple(int(s) for s in event_shape)

    @abc.abstractmethod
    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        """``dx/dt`` at time ``t`` for the states ``x``."""

    def at_time(self, t: Tensor | float) -> Callable[[Tensor], Tensor]:
        """``x ↦ f(t, x)`` for one time shared by every point it is then called on.

        Fields override it to do their work that depends on t alone (or on the weights alone)
        once, however many pieces of a batch the returned function then evaluates.
        """
        return lambda x: self(t, x)


class RowChunkedField(VectorField):
    """``field`` evaluated ``rows`` points at a time: a solver's view of a large batch on a CPU.

    Each piece's activations (8,192 × 64 float32 = 2 MiB per layer) stay in the cores' caches
    through the layers, where 100,000 rows stream through memory; the field's time path
    (:meth:`VectorField.at_time`) still runs once per evaluation, not once per piece. Only for
    fields that treat rows independently (all of ours). The solver still steps the whole
    batch, so an adaptive solver chooses the same steps as without pieces.
    """

    def __init__(self, field: VectorField, rows: int) -> None:
        super().__init__(field.event_shape)
        if rows < 1:
            raise ValueError(f"rows must be >= 1, not {rows}")
        self.field, self.rows = field, int(rows)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        return in_row_chunks(self.field.at_time(t), x, self.rows)


class SharedAtTime(VectorField):
    """``field`` whose :meth:`~VectorField.at_time` is computed once per time and shared by every
    caller: the view of a field for the threads of one row-split solve (``row_threads``).

    Each thread steps its block of points through the same times, so without sharing each would
    run the field's time path (for a flow-matching field about 300 small operations) at every
    evaluation, and those hold the interpreter lock the other thread waits for. The first thread
    to reach a time computes it under a lock; the others wait for it without holding the
    interpreter lock. Only for a solve that does not change the weights (sampling).
    """

    def __init__(self, field: VectorField) -> None:
        super().__init__(field.event_shape)
        self.field = field
        self._lock = threading.Lock()
        self._by_time: dict[float, Callable[[Tensor], Tensor]] = {}

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        if isinstance(t, Tensor) and t.ndim > 0:
            return self.field(t, x)
        return self.at_time(t)(x)

    def at_time(self, t: Tensor | float) -> Callable[[Tensor], Tensor]:
        key = float(t)
        with self._lock:
            if key not in self._by_time:
                self._by_time[key] = self.field.at_time(t)
            return self._by_time[key]


class MLPField(VectorField):
    """An MLP on ``(flatten(x), embed(t))``: the field FFJORD and flow matching use on tables/toys.

    ``frequencies`` > 0 adds sin/cos features of t (see :class:`~pushforward.nn.embeddings.FourierTime`),
    which helps a field whose shape changes quickly along the path; ``space_features`` > 0 adds
    that many random Fourier features of x with bandwidth ``space_scale`` (see
    :class:`~pushforward.nn.embeddings.FourierFeatures`), which helps a field with sharp edges in
    space. Events of any shape are
    flattened, so this field also works (slowly) on small images; a convolutional field is the
    right choice there.
    """

    def __init__(
        self,
        event_shape: tuple[int, ...],
        hidden_features: int = 64,
        hidden_layers: int = 3,
        activation: Activation = "tanh",
        frequencies: int = 0,
        space_features: int = 0,
        space_scale: float = 1.0,
    ) -> None:
        super().__init__(event_shape)
        self.features = math.prod(self.event_shape)
        self.time = FourierTime(frequencies)
        self.space = FourierFeatures(self.features, space_features, space_scale)
        self.net = MLP(self.space.features + self.time.features, self.features, hidden_features, hidden_layers, activation)

    def forward(self, t: Tensor | float, x: Tensor) -> Tensor:
        if isinstance(t, (int, float)) or t.ndim == 0:
            # One time for the whole batch, as an ODE solver passes it: the folded path.
            return self.at_time(t)(x)
        n = x.shape[0]
        flat = x.reshape(n, self.features)
        inputs = torch.cat([self.space(flat), self.time(t, n).to(flat.dtype)], dim=1)
        return self.net(inputs).reshape(x.shape)

    def at_time(self, t: Tensor | float) -> Callable[[Tensor], Tensor]:
        """``x ↦ f(t, x)`` for one time ``t`` shared by the whole batch (an ODE solver's call).

        The first layer sees ``[x, e(t)]`` with ``e`` the time features, and
        ``W [x, e(t)] + b = W_x x + (W_e e(t) + b)``: everything that depends on t alone is
        folded, here, into that layer's bias, so an evaluation is one fused ``addmm`` per layer
        with no time column to build and concatenate onto every row. Without autograd
        (sampling) the activations also run in place on the fresh products. Differentiable in
        x and the parameters like :meth:`forward`'s per-sample path, which it equals.
        """
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        inputs = self.space.features
        weight_x, weight_e = first.weight[:, :inputs], first.weight[:, inputs:]
        bias = F.linear(self.time(t, 1).to(first.weight.dtype), weight_e, first.bias)[0]
        rest = list(self.net)[1:]

        def field_at_t(x: Tensor) -> Tensor:
            in_place = not torch.is_grad_enabled()
            h = torch.addmm(bias, self.space(x.reshape(x.shape[0], self.features)), weight_x.T)
            for module in rest:
                h = activate(module, h, in_place) if not isinstance(module, nn.Linear) else module(h)
            return h.reshape(x.shape)

        return field_at_t


def mlp_field(
    hidden_features: int = 64,
    hidden_layers: int = 3,
    activation: Activation = "tanh",
    frequencies: int = 0,
    space_features: int = 0,
    space_scale: float = 1.0,
) -> FieldFactory:
    """A factory of :class:`MLPField` with these settings, for models that build fields lazily."""

    def build(event_shape: tuple[int, ...]) -> VectorField:
        return MLPField(event_shape, hidden_features, hidden_layers, activation, frequencies, space_features, space_scale)

    return build


class VPredictionField(VectorField):
    """The velocity of the straight path, written through a network that predicts v.

    On the straight path x_t = t x1 + (1 − t) x0 (noise x0 at t = 0, data x1 at t = 1) the
    velocity is u = x1 − x0. Read as a diffusion, x_t / s with s = √(t² + (1 − t)²) has signal
    α = t/s, noise σ = (1 − t)/s and log-SNR λ = 2 logit(t), and u is an affine function of x_t
    and the diffusion's v = α x0 − σ x1 (Salimans & Ho, "Progressive distillation for fast
    sampling of diffusion models", ICLR 2022):

        u = (2t − 1)/s² · x_t − v/s.

    So the field is ``a(t) x − b(t) v_θ(x, c(t))`` with that closed-form skip term, and the
    network ``v_θ`` (a :class:`~pushforward.nn.time_conditioned.TimeConditionedMLP`) sees the
    noise level c = logit(t)/4 = λ/8 at every layer, as the ``ddpm`` denoiser does. Near the
    data (t → 1) u ≈ x − v: a plain MLP on (x, t) must rebuild the identity, and its errors
    blur the data's edges; here the identity is exact and the network learns a bounded
    residual. logit(t) is clamped to [``logit_min``, ``logit_max``], the noise levels the
    network is trained on: below ``logit_min`` (the noisy end, where the data's shape barely
    shows) it predicts v at that level, while a(t) and b(t) stay exact.
    """

    def __init__(
        self,
        event_shape: tuple[int, ...],
        hidden_features: int = 64,
        hidden_layers: int = 3,
        activation: Activation = "silu",
        space_features: int = 0,
        space_scale: float = 1.0,
        logit_min: float = -9.2,
        logit_max: float = 9.2,
        embedding_features: int = 32,
        time_scale: bool = False,
    ) -> None:
        super().__init__(event_shape)
        if not logit_min < logit_max:
            raise ValueError(f"logit_min must be below logit_max, not {logit_min} and {logit_max}")
        self.network = TimeConditionedMLP(
            self.event_shape, hidden_features, hidden_layers, embedding_features, activation, 0, space_features, space_scale, time_scale
        )
        self.logit_min, self.logit_max = float(logit_min), float(logit_max)

    def _times(self, t: Tensor | float) -> Tensor:
        weight = self.network.first.weight
        return torch.as_tensor(t, dtype=weight.dtype, device=weight.device).clamp(0.0, 1.0)

    @staticmethod
    def path_scale_squared(t: Tensor) -> Tensor:
        """s² = t² + (1 − t)², the variance of x_t per unit variance of both ends."""
        return t.square() + (1 - t).square()

    @classmethod
    def path_coefficients(cls, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` at times ``t``: the velocity is ``a x_t − b v``."""
        s2 = cls.path_scale_squared(t)
        return (2 * t - 1) / s2, s2.rsqrt()

    def noise_level(self, t: Tensor) -> Tensor:
        """The network's time input c = clamp(logit(t), logit_min, logit_max) / 4."""
        return 0.25 * torch.logit(t).clamp(self.logit_min, self.logit_max)

    def forward(self, t: Tensor | float, x: Tensor) -> Tensor:
        if isinstance(t, (int, float)) or t.ndim == 0:
            return self.at_time(t)(x)
        times = self._times(t).reshape(-1)
        a, b = self.path_coefficients(times)
        shape = (-1,) + (1,) * (x.dim() - 1)
        return a.view(shape).to(x.dtype) * x - b.view(shape).to(x.dtype) * self.network(x, self.noise_level(times).to(x.dtype))

    def at_time(self, t: Tensor | float) -> Callable[[Tensor], Tensor]:
        """``x ↦ f(t, x)`` for one time shared by the batch: the network's time path runs once."""
        time = self._times(t)
        a, b = self.path_coefficients(time)
        network_at_t = self.network.at_time(self.noise_level(time))
        a_value, b_value = float(a.detach()), float(b.detach())

        def field_at_t(x: Tensor) -> Tensor:
            out = network_at_t(x)
            if torch.is_grad_enabled():
                return a_value * x - b_value * out
            return out.mul_(-b_value).add_(x, alpha=a_value)  # sampling: in place on a fresh tensor

        return field_at_t
