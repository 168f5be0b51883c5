"""Benchmark (not a test): otflow's training iterations per second against cnf's, in the
continuous-flow issue's protocol (checkerboard, 60 s of training, 2 CPU threads, defaults), over
several paired runs.

The issue asks ``otflow`` for at least 5x the iterations per second of ``cnf`` at equal field
width. One pair of 60 s runs cannot settle a ratio on this machine, whose speed drifts by up to
1.4x within minutes: the two models' minutes may fall in different phases. So the script runs
``--pairs`` pairs, alternating which model goes first, and prints each pair's ratio of
iterations per training second (a run that stops early counts its own seconds), the median,
and each run's KL gap (the issue also asks otflow's to be below cnf's).

    python benchmarks/iteration_ratio.py --pairs 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

import torch
from toy2d import test_nll_and_kl_gap  # this folder's benchmark: a script's folder is on sys.path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--time", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ratios = []
    for pair in range(args.pairs):
        order = ("cnf", "otflow") if pair % 2 == 0 else ("otflow", "cnf")
        results = {name: run(name, args.time, args.seed) for name in order}
        ratio = float(results["otflow"]["per_second"]) / float(results["cnf"]["per_second"])  # type: ignore[arg-type]
        ratios.append(ratio)
        print(json.dumps({"pair": pair, "first": order[0], **results, "ratio": round(ratio, 3)}), flush=True)
    print(
        f"otflow / cnf iterations per second: median {statistics.median(ratios):.2f}x over {len(ratios)} pairs "
        f"(each: {', '.join(f'{r:.2f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
