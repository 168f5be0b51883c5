"""Independent rows split across the CPU's threads by blocks of rows, one torch thread each.

ATen parallelises *within* each operation: every matrix product and activation of a sampler's
network is cut between the threads, which meet again at its end. A diffusion sampler on a CPU
runs thousands of such operations (50 steps × a few layers × chunks of rows), each paying that
meeting, and the pieces of each thread leave the cache between operations. When the rows are
independent (a deterministic sampler: each point's path depends on that point alone), the
threads can instead take whole blocks of rows through the whole computation, each with one
torch thread, meeting once at the end.

Measured for 100,000 samples of the default models, 2 CPU threads, interleaved rounds
(2026-12-03; see BENCHMARKS.md), against the same sampler with the threads inside each
operation: ddpm's DDIM-50 0.81x (quartiles 0.77–0.87; blocks in chunks of 8,192 rows, the best of
2,048–32,768), DPM-Solver++ 0.92x; the continuous flows' RK4 solves 0.76x (rectified) to 0.92x
(otflow). Each worker runs on one torch thread, where numpy's sin, cos and tanh beat torch's
(:mod:`pushforward.nn.fastest_form`): with them DDIM-50 takes 0.74–0.75x.

Python threads suffice because torch releases the interpreter lock inside each operation, and
these operations are large (thousands of rows), so the threads rarely wait for it. The worker
threads set torch's thread count to 1; with OpenMP that setting also reaches the caller's thread
(and MKL's is process-wide), so it is restored when the blocks are done. Other threads of the
same program that run torch meanwhile would see one thread too.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

MIN_ROWS_PER_THREAD = 1024
"""Below this many rows per thread the blocks are not worth a thread each (and a sampler on so
few rows costs milliseconds anyway)."""


def threads_for_rows(rows: int, device: torch.device) -> int:
    """How many blocks :func:`on_threads_by_rows` will cut ``rows`` rows into (1: no split)."""
    if device.type != "cpu" or not torch.backends.openmp.is_available():
        # Elsewhere the device parallelises; ATen's native thread pool would warn when its size
        # changes after its first use, so only OpenMP builds split.
        return 1
    return max(1, min(torch.get_num_threads(), rows // MIN_ROWS_PER_THREAD))


def on_threads_by_rows(function: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``function(x)`` for a ``function`` that treats rows independently, computed on
    contiguous blocks of rows, one per torch thread, each block in its own thread with one
    torch thread, and concatenated. The same values as one call, up to the order of floating
    point sums inside a matrix product.

    Falls back to one call on a GPU, on one thread, or for fewer than
    ``2 × MIN_ROWS_PER_THREAD`` rows. Grad and inference mode (thread-local in torch) are
    carried into the workers; an exception in a block is raised here.
    """
    threads = threads_for_rows(x.shape[0], x.device)
    if threads < 2:
        return function(x)
    caller_threads = torch.get_num_threads()
    grad_enabled, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def block(rows: Tensor) -> Tensor:
        torch.set_num_threads(1)
        with torch.inference_mode(inference), torch.set_grad_enabled(grad_enabled):
            return function(rows)

    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="pushforward-rows") as pool:
            results = list(pool.map(block, x.tensor_split(threads)))
    finally:
        torch.set_num_threads(caller_threads)
    return torch.cat(results)
