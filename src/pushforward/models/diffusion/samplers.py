"""Samplers from noise to data, on a grid of ``steps`` times from 1 down to 0.

One update covers both (Song, Meng, Ermon, "Denoising Diffusion Implicit Models", ICLR 2021,
eq. 12): from x_t, predict ε̂ and x̂_0 = (x_t − σ_t ε̂)/α_t, then

    x_s = α_s x̂_0 + √(1 − ᾱ_s − c²) ε̂ + c z,   c = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s).

η = 1 is the ancestral sampler of Ho, Jain, Abbeel (2020) (the posterior q(x_s | x_t, x̂_0));
η = 0 is deterministic DDIM, which is exactly Euler's method for the probability-flow ODE
written in x̄ = x/α against σ̄ = σ/α: x̄_s = x̄_t + (σ̄_s − σ̄_t) ε̂ (see
:mod:`pushforward.models.diffusion.probability_flow`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from pushforward.device import host_precise_dtype
from pushforward.errors import UserError
from pushforward.models.diffusion.schedules import NoiseSchedule
from pushforward.nn.chains import affine_steps_

EpsilonFunction = Callable[[Tensor, Tensor], Tensor]
"""``(x_t, t) → ε̂``, with ``t`` a 0-d tensor shared by the whole batch."""

DEFAULT_CHUNK_ROWS = 32768
"""Points per network call on the CPU. Chunks bound the activations' memory (32,768 × 48 float32
values, 6 MiB per layer) and, on 2 threads, give each operation enough rows to split well.
Measured for the default 48-wide denoiser, 100,000 samples, 12 interleaved rounds, median ratio
of 32,768-row to 4,096-row chunks (2026-12-03): on 2 threads DDIM-50 0.79 (quartiles 0.77–0.86),
DPM-Solver++ 0.89 (0.77–0.98); on 1 thread 1.01 and 1.03 (0.94–1.15). (An earlier measurement
for a 64-wide denoiser favoured 4,096 rows on 2 threads: 1.2 s against 1.7 s for 8,192, taken
one after the other; this machine's speed drifts by up to 1.4× within minutes, which is why
these rounds interleave.) Now only the ancestral sampler uses it: the deterministic ones split
their rows across the threads and take :data:`THREAD_CHUNK_ROWS`."""

THREAD_CHUNK_ROWS = 8192
"""Points per network call for each thread when the deterministic samplers split their rows across
the CPU's threads (:mod:`pushforward.models.row_threads`). Measured for the default denoiser,
100,000 DDIM-50 samples on 2 threads, 10 interleaved rounds (2026-12-03), median time against
the threads inside each operation at 32,768-row chunks: 8,192 rows 0.81 (quartiles 0.77–0.87),
16,384 0.89, 32,768 0.91; in an earlier series 2,048 0.96, 4,096 0.81. On one thread the chunk
size made no difference (see :data:`DEFAULT_CHUNK_ROWS`). On an Intel Xeon with 1.25 MiB of L2 a
core (2026-12-05), against 8,192 rows: 1,024 2.03, 2,048 1.32, 4,096 1.08, 16,384 1.11, 50,000
1.12. Smaller chunks fit the cache, but each network call costs about 0.6 ms of dispatch and
waiting for the interpreter lock (estimated from the sweep). With the points-as-columns network
(:mod:`pushforward.nn.feature_major`), same machine, 12 rounds: 2,048 1.33, 4,096 1.08, 16,384
0.98 (quartiles 0.90–1.05), so 8,192 stays."""


class AffineEpsilon(NamedTuple):
    """ε̂ at one time as an affine function of a network's output: ε̂(x) = p·x + q·g(x).

    A network predicting ε has (p, q) = (0, 1); one predicting v = α ε − σ x_0 has
    (p, q) = (σ, α), since ε = σ x + α v. Keeping the network output apart lets a sampling
    step fold the whole update into one linear combination of x and g(x), which a
    time-conditioned network computes fused into its last layer (:mod:`pushforward.nn.chains`).
    """

    g: Callable[[Tensor], Tensor]
    p: float
    q: float

    def step_(self, x: Tensor, a: float, b: float) -> Tensor:
        """``x ← a x + b ε̂(x)`` in place."""
        return chain_steps_(x, [(self, a, b)])


EpsilonAtTime = Callable[[Tensor], AffineEpsilon]
"""``t ↦ AffineEpsilon``: everything that depends only on the time, computed once per step."""


def from_epsilon_function(epsilon_fn: EpsilonFunction) -> EpsilonAtTime:
    """An :data:`EpsilonAtTime` from a plain ``(x, t) → ε̂``."""
    return lambda t: AffineEpsilon(lambda x: epsilon_fn(x, t), 0.0, 1.0)


def precomputed(epsilon_at_times: Callable[[Tensor], list[AffineEpsilon]], steps: int, dtype: torch.dtype) -> EpsilonAtTime:
    """An :data:`EpsilonAtTime` for the ``steps`` sampling times, computed up front by one call
    of ``epsilon_at_times`` (all the times at once) and looked up.

    For the row-splitting samplers: every thread needs the same network weights at each step.
    Computed in each thread, step by step, they cost about 300 small operations a step, which
    hold the interpreter lock the other thread is waiting for; computed here, batched over the
    times, about 30 in all.
    """
    times = sampling_times(steps)[:-1].to(dtype)
    with torch.inference_mode():
        table = dict(zip(times.tolist(), epsilon_at_times(times)))
    return lambda t: table[float(t)]


def chain_steps_(x: Tensor, plan: Sequence[tuple[AffineEpsilon, float, float]]) -> Tensor:
    """``x ← a x + b ε̂(x)`` for each ``(ε̂, a, b)`` of ``plan`` in turn, in place: DDIM's chain on
    one chunk, as x ← (a + b p) x + b q g(x), which a time-conditioned network runs fused, the
    points kept in its buffers from the first step to the last (:mod:`pushforward.nn.chains`)."""
    return affine_steps_(x, [(epsilon.g, a + b * epsilon.p, b * epsilon.q) for epsilon, a, b in plan])


def check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UserError(f"a sampler needs at least 1 step, not {steps!r}", "use --set sampler_steps=50")
    return steps


def sampling_times(steps: int) -> Tensor:
    """``steps + 1`` times from 1 down to 0, evenly spaced, on the CPU in its precise dtype
    (float64): every step's coefficients are scalars computed from them there."""
    return torch.linspace(1, 0, check_steps(steps) + 1, dtype=host_precise_dtype())


def step_coefficients(schedule: NoiseSchedule, t: Tensor, s: Tensor, eta: float) -> tuple[float, float, float]:
    """``(a, b, c)`` of one update from ``t`` to an earlier ``s``: x_s = a x_t + b ε̂ + c z.

    From x̂_0 = (x_t − σ_t ε̂)/α_t: a = α_s/α_t, b = √(1 − ᾱ_s − c²) − α_s σ_t/α_t, computed in
    ``t``'s dtype.
    """
    log_bar_t, log_bar_s = schedule.log_alpha_bar(t), schedule.log_alpha_bar(s)
    alpha_t, sigma_t = torch.exp(0.5 * log_bar_t), torch.sqrt(-torch.expm1(log_bar_t))
    alpha_s, variance_s = torch.exp(0.5 * log_bar_s), -torch.expm1(log_bar_s)
    c = torch.zeros((), dtype=t.dtype)
    if eta > 0 and float(s) > 0:
        c = eta * torch.sqrt(variance_s / sigma_t.square() * -torch.expm1(log_bar_t - log_bar_s))
    direction = torch.sqrt(torch.clamp(variance_s - c.square(), min=0.0))
    return float(alpha_s / alpha_t), float(direction - alpha_s * sigma_t / alpha_t), float(c)


def generalized_step(
    schedule: NoiseSchedule,
    x: Tensor,
    epsilon: Tensor,
    t: Tensor,
    s: Tensor,
    eta: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One update from time ``t`` to an earlier time ``s`` (0-d tensors, see :func:`sampling_times`)."""
    a, b, c = step_coefficients(schedule, t, s, eta)
    out = a * x + b * epsilon
    if c > 0:
        out = out + c * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return out


def sample_chain(
    schedule: NoiseSchedule,
    epsilon_at: EpsilonAtTime,
    x1: Tensor,
    steps: int,
    eta: float,
    generator: torch.Generator | None = None,
    chunk_rows: int | None = None,
) -> Tensor:
    """Run ``steps`` updates from x_1 (noise) to x_0; η = 0: DDIM, η = 1: ancestral DDPM.

    Each step is x ← A x + B g(x) (+ c z) with A = a + b p, B = b q (see
    :func:`step_coefficients` and :meth:`AffineEpsilon.step_`), evaluated ``chunk_rows`` points at
    a time (``None``: all at once). Chunking changes neither the result nor the random draws:
    a step's noise is drawn for the whole batch before its chunks are visited.
    """
    if chunk_rows is not None and chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, not {chunk_rows}")
    times = sampling_times(steps)
    with torch.inference_mode():
        x = x1.clone()
        rows = chunk_rows or max(x.shape[0], 1)
        if eta == 0:
            # Deterministic: each point's path is its own, so each chunk goes through every step
            # before the next chunk starts, and the network may run the whole chain fused.
            plan = [(epsilon_at(t.to(x.dtype)), *step_coefficients(schedule, t, s, eta)[:2]) for t, s in zip(times[:-1], times[1:])]
            for start in range(0, x.shape[0], rows):
                chain_steps_(x[start : start + rows], plan)
        else:
            for t, s in zip(times[:-1], times[1:]):
                a, b, c = step_coefficients(schedule, t, s, eta)
                epsilon = epsilon_at(t.to(x.dtype))
                noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if c > 0 else None
                for start in range(0, x.shape[0], rows):
                    part = epsilon.step_(x[start : start + rows], a, b)
                    if noise is not None:
                        part.add_(noise[start : start + rows], alpha=c)
    # Out of inference mode, so the caller gets an ordinary tensor autograd may use later.
    return x.clone()
