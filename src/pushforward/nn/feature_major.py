"""Inference of an MLP on random Fourier features with the points as columns, each layer one
matrix product with its bias folded in.

The usual layout keeps points as rows: a layer ``h ↦ σ(h Wᵀ + b)`` is an ``addmm`` that first
writes the broadcast bias into its ``(n, out)`` output and then has the product add onto it,
two passes over memory besides the product. With the points as columns and a last row of ones,
``[h; 1]`` of shape ``(in + 1, n)``, the same layer is one product ``[W | b] @ [h; 1]``,
written into the first ``out`` rows of the next such buffer: in row-major memory those rows are
one contiguous block, so the product writes its output once, the activation runs in place on
it, and the buffer's own ones row is already there for the next layer. The first layer's input
is built the same way, ``[sin θ; cos θ; x; 1]`` with θ = B x written into the sine and cosine
rows by one product of ``[B; B]`` with the ``x`` rows, each function then applied in place to
its contiguous block, with no concatenated copy of the features.

Two more savings for samplers on the CPU: each thread keeps its buffers for the shapes it
last used (:func:`workspace`), so a chunk's call allocates nothing and writes the ones rows
never again; and :func:`affine_steps_` does a deterministic step x ← a x + b·network(x) as the
last layer's product added onto the ``a``-scaled points (:func:`prediction_steps_` likewise
for a multistep solver), for a whole chain of steps on one chunk.

Measured for the default ``ddpm`` denoiser (48 wide, 3 hidden layers, 32 Fourier projections),
8,192 points a call on one thread, 21 interleaved rounds on an Intel Xeon (2026-12-05): 2.27 ms
against 2.89 ms for the points-as-rows path (median ratio 0.79). The values agree to float32
rounding (the products sum in another order). In the threaded DDIM-50 sampler, 100,000
points, interleaved rounds: 0.90× the points-as-rows path (10 rounds), reused buffers a further
0.95× (8 rounds, scratch), the fused step a further 0.98× (12 rounds).

Random Fourier features: Tancik et al., "Fourier Features Let Networks Learn High Frequency
Functions in Low Dimensional Domains", NeurIPS 2020.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from pushforward.nn.mlp import activate
from pushforward.nn.sinusoids import cos_, sin_


def with_bias_column(weight: Tensor, bias: Tensor) -> Tensor:
    """``[W | b]``: a layer's weight with its bias as a last column, which multiplies the ones
    row of a points-as-columns buffer. Leading dimensions (one layer per time) are kept."""
    return torch.cat([weight, bias[..., None]], dim=-1)


def first_layer_matrix(weight: Tensor, bias: Tensor, dimension: int) -> Tensor:
    """``[W_sin W_cos | W_x | b]`` of a first layer whose columns are ordered as the features
    ``[x, sin θ, cos θ]``: ordered as the buffer's rows ``[sin θ; cos θ; x; 1]``. The angles come
    first so that the product that forms them writes one block and reads the x rows right after
    it. Leading dimensions (one layer per time) are kept."""
    return torch.cat([weight[..., dimension:], weight[..., :dimension], bias[..., None]], dim=-1)


class FeatureMajorMLP:
    """``x ↦ last(σ(… σ(first([x, sin Bx, cos Bx])) …))`` for a batch of rows ``x`` ``(n, d)``,
    computed with the points as columns (see the module's docstring); inference only.

    Made from the layers by :meth:`from_layers`; the constructor takes the matrices already in
    the buffers' layout: ``angles`` ``[B; B]`` ``(2F, d)``, ``first`` from
    :func:`first_layer_matrix`, ``hidden`` and ``last`` from :func:`with_bias_column`. Every
    hidden layer maps the hidden width to itself, so two buffers take turns. The matrices are
    cast once to each other dtype and device the network is called with.
    """

    def __init__(self, angles: Tensor, first: Tensor, hidden: Sequence[Tensor], last: Tensor, activations: Sequence[nn.Module]) -> None:
        self.waves, self.dimension = angles.shape[0] // 2, angles.shape[1]
        self.width = first.shape[0]
        self._matrices = {"angles": angles, "first": first, "hidden": list(hidden), "last": last}
        self._home = (first.dtype, first.device)
        self._cast: dict[tuple[torch.dtype, torch.device], dict] = {}
        self.activations = list(activations)

    @classmethod
    def from_layers(
        cls,
        projection: Tensor,
        first: tuple[Tensor, Tensor],
        hidden: Sequence[tuple[Tensor, Tensor]],
        last: tuple[Tensor, Tensor],
        activations: Sequence[nn.Module],
    ) -> FeatureMajorMLP:
        """From each layer's ``(weight, bias)``: ``first``'s columns ordered as the features
        ``[x, sin Bx, cos Bx]`` (``B`` is ``projection``, ``(F, d)``; ``F = 0``: ``x`` alone)."""
        waves, dimension = projection.shape
        first_weight, first_bias = first
        if first_weight.shape[1] != dimension + 2 * waves:
            raise ValueError(f"the first layer takes {first_weight.shape[1]} features, not d + 2F = {dimension + 2 * waves}")
        if len(activations) != 1 + len(hidden):
            raise ValueError(f"{1 + len(hidden)} hidden layers need as many activations, not {len(activations)}")
        width = first_weight.shape[0]
        if any(weight.shape != (width, width) for weight, _ in hidden):
            raise ValueError(f"every hidden layer must map {width} units to {width}")
        return cls(
            torch.cat([projection, projection]),
            first_layer_matrix(first_weight, first_bias, dimension),
            [with_bias_column(weight, bias) for weight, bias in hidden],
            with_bias_column(*last),
            activations,
        )

    def _matrices_for(self, x: Tensor) -> dict:
        key = (x.dtype, x.device)
        if key == self._home:
            return self._matrices
        if key not in self._cast:
            cast = lambda m: m.to(device=x.device, dtype=x.dtype).contiguous()  # noqa: E731
            matrices = self._matrices
            self._cast[key] = {
                "angles": cast(matrices["angles"]),
                "first": cast(matrices["first"]),
                "hidden": [cast(m) for m in matrices["hidden"]],
                "last": cast(matrices["last"]),
            }
        return self._cast[key]

    def __call__(self, x: Tensor) -> Tensor:
        """The network on the rows of ``x`` ``(n, d)``: ``(n, outputs)``, a transposed view of
        the last product."""
        matrices = self._matrices_for(x)
        work = self._workspace_holding(x)
        return torch.mm(matrices["last"], self._hidden_layers(work, matrices)).T

    def _workspace_holding(self, x: Tensor) -> Workspace:
        """This thread's workspace for ``x``'s rows, with ``x`` in its points' rows."""
        work = workspace(x.shape[0], self.waves, self.dimension, self.width, x.dtype, x.device)
        work.points.copy_(x.T)
        return work

    def _hidden_layers(self, work: Workspace, matrices: dict) -> Tensor:
        """Run the layers up to the last on the points in ``work``: the last hidden buffer
        ``[h; 1]``, a view of the workspace."""
        if self.waves:
            torch.mm(matrices["angles"], work.points, out=work.angles)
            sin_(work.sines)
            cos_(work.cosines)
        h = work.features
        for index, (matrix, activation) in enumerate(zip([matrices["first"], *matrices["hidden"]], self.activations)):
            units = work.units[index % 2]
            torch.mm(matrix, h, out=units)
            activated = activate(activation, units, in_place=True)
            if activated is not units:  # an activation without an in-place form (GELU)
                units.copy_(activated)
            h = work.buffers[index % 2]
        return h


def _shared_workspace(networks: Sequence[FeatureMajorMLP], x: Tensor) -> Workspace:
    """The workspace that a chain of ``networks`` (one model at several times) runs in, holding ``x``."""
    shapes = {(network.waves, network.dimension, network.width) for network in networks}
    if len(shapes) != 1:
        raise ValueError("the steps' networks must have the same shapes")
    return networks[0]._workspace_holding(x)


def affine_steps_(x: Tensor, steps: Sequence[tuple[FeatureMajorMLP, float, float]]) -> Tensor:
    """``x ← a x + b · network(x)`` for each ``(network, a, b)`` of ``steps`` in turn, in place on
    the rows ``x`` ``(n, d)``: a deterministic sampler's whole chain on one chunk of points.

    The points stay in the workspace's rows from the first step to the last, so a step costs
    the network's products and activations and nothing else: no copies in and out, no Python
    layers between the sampler and the products. The networks must share their shapes (one
    model at several times). 100,000 DDIM-50 samples, 2 threads, against one such fused step per
    chunk and step: 0.83–0.90 (three series of 12–14 interleaved rounds; Intel Xeon,
    2026-12-05), with the same samples bit for bit. Written out:
    :func:`~pushforward.nn.chains.affine_steps_written_out_`.
    """
    work = _shared_workspace([step[0] for step in steps], x)
    for network, a, b in steps:
        matrices = network._matrices_for(x)
        work.points.addmm_(matrices["last"], network._hidden_layers(work, matrices), beta=a, alpha=b)
    return x.copy_(work.points.T)


def prediction_steps_(x: Tensor, steps: Sequence[tuple[FeatureMajorMLP, float, float, float, float, float]]) -> Tensor:
    """A multistep solver's chain on one chunk of points, in place on the rows ``x`` ``(n, d)``:
    for each ``(network, α, β, a, b, c)`` of ``steps`` in turn, the prediction
    y = α x + β network(x), then x ← a x + b y + c y_prev, with y_prev the previous step's
    prediction (``c`` = 0 at the first step). DPM-Solver++(2M) is this with y = x̂_0.

    As in :func:`affine_steps_`, the points stay in the workspace's rows through every step;
    the prediction is the last layer's product added onto the α-scaled points (one ``addmm``),
    into one of two small buffers that take turns as y and y_prev. Written out:
    :func:`~pushforward.nn.chains.prediction_steps_written_out_`.
    """
    work = _shared_workspace([step[0] for step in steps], x)
    predictions = (torch.empty_like(work.points), torch.empty_like(work.points))
    for index, (network, alpha, beta, a, b, c) in enumerate(steps):
        prediction, previous = predictions[index % 2], predictions[(index + 1) % 2]
        matrices = network._matrices_for(x)
        torch.addmm(work.points, matrices["last"], network._hidden_layers(work, matrices), beta=alpha, alpha=beta, out=prediction)
        work.points.mul_(a).add_(prediction, alpha=b)
        if c != 0.0:
            work.points.add_(previous, alpha=c)
    return x.copy_(work.points.T)


class Workspace(NamedTuple):
    """The buffers of one call and views into them: ``features`` ``[sin θ; cos θ; x; 1]``, whose
    ``angles`` rows hold θ then its ``sines`` and ``cosines``, and whose ``points`` rows hold x;
    two hidden ``buffers`` ``[h; 1]`` taking turns, and their ``units`` rows h."""

    features: Tensor
    angles: Tensor
    sines: Tensor
    cosines: Tensor
    points: Tensor
    buffers: tuple[Tensor, Tensor]
    units: tuple[Tensor, Tensor]


_PER_THREAD = threading.local()
MAX_CACHED_SHAPES = 4
"""Workspaces kept per thread: a sampler's full chunks and its last, shorter one, for a float32
and a float64 model."""
MAX_CACHED_BYTES = 8 * 2**20
"""Larger workspaces are made afresh at each call and freed after it, so that memory a thread
keeps after sampling stays bounded (at most 4 × 8 MiB). The row-splitting samplers' 8,192-row
chunks of the default denoiser need 5.4 MiB; the ancestral sampler's 32,768-row chunks, on the
caller's thread, 22 MiB, and their calls are four times longer, so allocating costs them less."""


def workspace(rows: int, waves: int, dimension: int, width: int, dtype: torch.dtype, device: torch.device) -> Workspace:
    """A :class:`Workspace` for ``rows`` points; on the CPU, up to :data:`MAX_CACHED_BYTES`, the
    same one each time the calling thread asks for these shapes, its ones rows written once.

    Kept per thread because the row-splitting samplers call the network from several threads at
    once. Reused on the CPU because there a sampler's chunk costs about 2 ms and allocating and
    filling three fresh buffers for it cost measurably (100,000 DDIM-50 samples took 0.95× the
    time with reused buffers, Intel Xeon, 2026-12-05); a GPU's caching allocator already reuses
    memory, and keeping buffers alive there would hold device memory after sampling.
    """
    key = (rows, waves, dimension, width, dtype, device)
    cache: dict | None = getattr(_PER_THREAD, "workspaces", None) if device.type == "cpu" else None
    if cache is not None and key in cache:
        return cache[key]
    # Ordinary tensors even when made in inference mode: a later call of the same thread
    # outside it (under no_grad) may then still write into them.
    with torch.inference_mode(False):
        features = torch.empty(2 * waves + dimension + 1, rows, dtype=dtype, device=device)
        buffers = (torch.empty(width + 1, rows, dtype=dtype, device=device), torch.empty(width + 1, rows, dtype=dtype, device=device))
    features[-1].fill_(1.0)
    for buffer in buffers:
        buffer[-1].fill_(1.0)
    made = Workspace(
        features,
        features[: 2 * waves],
        features[:waves],
        features[waves : 2 * waves],
        features[2 * waves : -1],
        buffers,
        (buffers[0][:width], buffers[1][:width]),
    )
    size = (features.numel() + 2 * buffers[0].numel()) * features.element_size()
    if device.type == "cpu" and size <= MAX_CACHED_BYTES:
        if cache is None or len(cache) >= MAX_CACHED_SHAPES:
            cache = _PER_THREAD.workspaces = {}
        cache[key] = made
    return made
