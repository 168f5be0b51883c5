"""Benchmark (not a test): the classifier two-sample test's gradient boosting on one thread and
on two, on an idle machine and beside a busy process.

scikit-learn's ``HistGradientBoostingClassifier`` runs hundreds of short OpenMP regions per
fit; with as many threads as cores, a region's barrier waits for whichever thread the
scheduler has just taken away for another process. ``pushforward.metrics.classifier.c2st``
therefore fits on one thread. This script times the bare classifier (fit and predict, the
work ``c2st`` does) at 1 and 2 OpenMP threads, first alone and then with a process spinning
on one core (``--busy``), and prints seconds per call.

    python benchmarks/classifier_threads.py
    python benchmarks/classifier_threads.py --busy
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np
from machine import header, speed_probe  # this folder's helpers: a script's folder is on sys.path
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits


def spin(seconds: float) -> None:
    """Keep one core busy, as a second test worker or a training run would."""
    end = time.perf_counter() + seconds
    total = 0.0
    while time.perf_counter() < end:
        total += sum(i * 0.5 for i in range(1000))


def seconds_per_call(points: int, threads: int, calls: int, seed: int = 0) -> list[float]:
    """Fit and predict ``calls`` times on two shifted 2-D Gaussian samples of ``points`` each."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(points, 2)), rng.normal(size=(points, 2)) + 0.1])
    labels = np.repeat([0, 1], points)
    times = []
    for _ in range(calls):
        with threadpool_limits(limits=threads):
            started = time.perf_counter()
            HistGradientBoostingClassifier(random_state=seed).fit(x, labels).predict(x)
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="300,3000,10000", help="points per side, comma-separated")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="spin a process on one core meanwhile")
    args = parser.parse_args()
    print(header(), flush=True)
    busy = None
    if args.busy:
        busy = multiprocessing.get_context("spawn").Process(target=spin, args=(3600.0,), daemon=True)
        busy.start()
    try:
        for points in (int(size) for size in args.sizes.split(",")):
            for threads in (1, 2):
                times = seconds_per_call(points, threads, args.calls)
                shown = ", ".join(f"{t:.3f}" for t in times)
                print(f"{points:>6} points per side, {threads} OpenMP thread(s){' beside a busy core' if busy else ''}: {shown} s", flush=True)
    finally:
        if busy is not None:
            busy.terminate()
            busy.join()
    print(f"# speed probe after: {speed_probe():.1f} ms")


if __name__ == "__main__":
    main()
