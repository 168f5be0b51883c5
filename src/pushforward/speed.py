"""How fast this machine runs this project's kind of work now: a fixed small workload, timed.

The demo plans its five minutes with it, and the benchmarks print it beside their figures: the
machines this project is timed on drift by 2× within minutes and differ by 4× between sessions,
and the same code's timings scale roughly with this probe.
"""

from __future__ import annotations

import statistics
import time

import torch

REFERENCE_PROBE_MS = 65.0
"""The probe on the machine the demo's plan was first measured on (2026-11-22 to 12-03: 56–67 ms)."""


def speed_probe(repeats: int = 7) -> float:
    """Milliseconds (median of ``repeats``) of a fixed one-thread workload shaped like this
    project's toy training: forward and backward of a 3 × 64 tanh MLP on 4,096 points, ten times.

    Compare probes, not machines: the same code's figures scale roughly with it. About
    ``repeats + 1`` times the result in all (1.6 s on a slow machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(4096, 2, generator=generator)
        net = torch.nn.Sequential(
            torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
            torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2),
        )

        def workload() -> float:
            started = time.perf_counter()
            for _ in range(10):
                net.zero_grad(set_to_none=True)
                net(x).square().mean().backward()
            return time.perf_counter() - started

        workload()  # warm-up: allocations, kernel selection
        return 1e3 * statistics.median(workload() for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)
