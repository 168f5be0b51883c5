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
import time
from pathlib import Path

import torch

from pushforward.speed import speed_probe


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


def header() -> str:
    """One comment line: the machine and the probe's time now."""
    return f"# {time.strftime('%Y-%m-%d %H:%M')} · {describe()} · speed probe {speed_probe():.1f} ms"
