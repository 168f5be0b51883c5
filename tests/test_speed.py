"""The speed probe: a positive time, and the thread count left as it was."""

from __future__ import annotations

import math

import torch

from pushforward.speed import speed_probe


def test_the_probe_times_its_workload_on_one_thread_and_restores_the_thread_count():
    threads = torch.get_num_threads()
    probe = speed_probe(repeats=1)
    assert math.isfinite(probe) and probe > 0
    assert torch.get_num_threads() == threads
