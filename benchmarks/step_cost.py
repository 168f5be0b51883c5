"""Benchmark (not a test): CPU time of one training step of continuous flows at equal field width.

The continuous-flow issue asks ``otflow`` for at least 5x the iterations per second of ``cnf``
at equal width (64). Wall-clock iteration counts on a shared machine are noisy, so this script
measures process CPU time per step (objective + backward + Adam on a batch of 512 standardised
checkerboard points, one thread) after training each model briefly (``--warmup`` steps of the
real trainer): ``cnf``'s adaptive dopri5 needs more evaluations as its field sharpens, so its
cost at initialisation understates it.

This machine's speed drifts by up to 1.4x within minutes, so the models are measured in
interleaved rounds (one round = a few steps of each, back to back; see ``rounds.py``) and the
ratio is the median of the rounds' ratios, with its quartiles; the per-model figures are the
fastest round.

    python benchmarks/step_cost.py                       # cnf and otflow, 300 warm-up steps
    python benchmarks/step_cost.py --models otflow --set train_steps=8
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from typing import Callable

import torch
from rounds import interleaved, ratio_quartiles  # this folder's helper: a script's folder is on sys.path

import pushforward as pf


def step_function(fitted: pf.FittedModel, batch: torch.Tensor, nfes: list[float]) -> Callable[[], None]:
    """One training step on ``batch`` with a negligible learning rate (the field stays put)."""
    model = fitted.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        outputs = model.objective(batch, "model")
        outputs["loss"].backward()
        optimizer.step()
        nfes.append(float(outputs.get("nfe", torch.tensor(0.0))))

    return step


def seconds_per_step(step: Callable[[], None], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        step()
    return (time.process_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cnf,otflow")
    parser.add_argument("--warmup", type=int, default=300, help="training steps before measuring")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=3, help="steps of each model per round")
    parser.add_argument("--set", action="append", default=[], help="key=value for every model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {}
    for item in args.set:
        key, value = item.split("=", 1)
        settings[key] = int(value) if value.isdigit() else value
    names = args.models.split(",")
    steps: dict[str, Callable[[], None]] = {}
    nfes: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            fitted = pf.fit("checkerboard", model=name, steps=args.warmup, out=f"{folder}/{name}", figures=False, settings=settings or None)
            batch = fitted.preprocessing.forward(fitted.dataset().train[:512])
            steps[name] = step_function(fitted, batch, nfes[name])
            steps[name]()  # the first step pays one-off costs
        measure = {name: partial(seconds_per_step, steps[name], args.per_round) for name in names}
        seconds = interleaved(measure, args.rounds)
    for name in names:
        fastest = min(seconds[name])
        print(f"{name}: {fastest * 1e3:.1f} ms CPU per step in the fastest round ({1 / fastest:.1f} it/s), NFE {statistics.mean(nfes[name]):.1f}", flush=True)
    if "cnf" in names and "otflow" in names:
        median, low, high = ratio_quartiles(seconds["cnf"], seconds["otflow"])
        print(f"otflow / cnf iterations per CPU second: {median:.2f}x (median of {args.rounds} rounds; quartiles {low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
