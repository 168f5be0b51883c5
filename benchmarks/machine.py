"""What machine a benchmark ran on, and how fast it was running: one line for a result's header.

The benchmarks' timed figures belong to one machine in one mood. This project's sessions run
on virtual machines that need not be the same from one session to the next (2026-12-03's
evening one was an "AMD EPYC" with AVX-512, on which ddpm's DDIM-50 took 1.3-1.9 s where the
afternoon's machine had taken 0.9-1.1 s), and one machine's speed drifts by up to 2x within
minutes (100,000 samples from the same ``rectified`` run took 0.82 s and 1.9 s minutes apart).
So every script prints :func:`describe` (which CPU, how many cores, torch's build and vector
instruction set) and :func:`speed_probe` (a fixed workload's time now) before and after its
measurements: a figure can then be read against the machine and its phase.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """``CPU · cores · torch version · vector ISA torch dispatches to · torch threads``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{cpu_model()} · {cores} cores · torch {torch.__version__} ({capability}) · {torch.get_num_threads()} torch threads"


def speed_probe(repeats: int = 7) -> float:
    """Milliseconds (median of ``repeats``) of a fixed one-thread workload shaped like this
    project's toy training: forward and backward of a 3 × 64 tanh MLP on 4,096 points, ten times.

    Compare probes, not machines: the same code's figures scale roughly with it."""
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


def header() -> str:
    """One comment line: the machine and the probe's time now."""
    return f"# {time.strftime('%Y-%m-%d %H:%M')} · {describe()} · speed probe {speed_probe():.1f} ms"
