"""Benchmark (not a test): otflow's training iterations per second against cnf's, in the
continuous-flow issue's protocol (checkerboard, 60 s of training, 2 CPU threads, defaults), over
several paired runs.

The issue asks ``otflow`` for at least 5x the iterations per second of ``cnf`` at equal field
width. One pair of 60 s runs cannot settle a ratio on this machine, whose speed drifts by up to
1.4x within minutes: the two models' minutes may fall in different phases. So the script runs
``--pairs`` pairs, alternating which model goes first, and prints each pair's ratio of
iterations per training second (a run that stops early counts its own seconds), the median,
and each run's KL gap (the issue also asks otflow's to be below cnf's).

``--simultaneous`` trades the protocol's two threads for a ratio the drift cannot skew: the two
models train at the same time, each in its own process pinned to its own core with one thread,
so both live through the same phases of the machine; pairs swap the cores. (A second thread
speeds a training step of either model by about the same factor, 0.85-0.87x of the one-thread
time; 2026-12-03, interleaved.)

    python benchmarks/iteration_ratio.py --pairs 4
    python benchmarks/iteration_ratio.py --pairs 4 --simultaneous
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile

import torch
from machine import header, speed_probe  # this folder's helpers: a script's folder is on sys.path
from toy2d import test_nll_and_kl_gap

import pushforward as pf


def run(model: str, seconds: float, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        fitted = pf.fit("checkerboard", model=model, time=seconds, seed=seed, out=f"{folder}/run", figures=False)
        _, gap = test_nll_and_kl_gap(fitted, "checkerboard")
    training = fitted.training
    assert training is not None
    return {
        "iterations": training.steps,
        "seconds": round(training.seconds, 2),
        "per_second": round(training.steps / training.seconds, 3),
        "kl_gap": round(gap, 4),
        "status": training.status,
    }


def _pinned_run(model: str, seconds: float, seed: int, core: int, results: multiprocessing.Queue) -> None:
    """``run`` in a child process bound to one core with one torch thread."""
    os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    results.put((model, run(model, seconds, seed)))


def run_simultaneously(cores: dict[str, int], seconds: float, seed: int) -> dict[str, dict[str, object]]:
    """Both models at once, each on its core of ``cores``; their results by model name."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_pinned_run, args=(name, seconds, seed, core, results)) for name, core in cores.items()]
    for worker in workers:
        worker.start()
    collected = dict(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return collected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--time", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simultaneous", action="store_true", help="train both at once, one pinned core and thread each")
    args = parser.parse_args()
    if args.simultaneous and len(os.sched_getaffinity(0)) < 2:
        parser.error("--simultaneous needs two cores")
    first_cores = sorted(os.sched_getaffinity(0))[:2] if args.simultaneous else []
    torch.set_num_threads(args.threads)
    print(header(), flush=True)
    ratios = []
    for pair in range(args.pairs):
        order = ("cnf", "otflow") if pair % 2 == 0 else ("otflow", "cnf")
        if args.simultaneous:  # "first" is the model on the first core
            results = run_simultaneously(dict(zip(order, first_cores)), args.time, args.seed)
        else:
            results = {name: run(name, args.time, args.seed) for name in order}
        ratio = float(results["otflow"]["per_second"]) / float(results["cnf"]["per_second"])  # type: ignore[arg-type]
        ratios.append(ratio)
        print(json.dumps({"pair": pair, "first": order[0], **results, "ratio": round(ratio, 3)}), flush=True)
    print(
        f"otflow / cnf iterations per second: median {statistics.median(ratios):.2f}x over {len(ratios)} pairs "
        f"(each: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"# speed probe after: {speed_probe():.1f} ms")


if __name__ == "__main__":
    main()
