"""Benchmark (not a test): CPU time of one training step of continuous flows at equal field width.

The continuous-flow issue asks ``otflow`` for at least 5x the iterations per second of ``cnf``
at equal width (64). Wall-clock iteration counts on a shared machine are noisy, so this script
measures process CPU time per step (objective + backward + Adam on a batch of 512 standardised
checkerboard points, one thread), the minimum over interleaved repeats, after training each
model briefly (``--warmup`` steps of the real trainer): ``cnf``'s adaptive dopri5 needs more
evaluations as its field sharpens, so its cost at initialisation understates it.

    python benchmarks/step_cost.py                       # cnf and otflow, 300 warm-up steps
    python benchmarks/step_cost.py --models otflow --set train_steps=8
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

import pushforward as pf


def step_cost(fitted: pf.FittedModel, batch: torch.Tensor, repeats: int, per_repeat: int) -> tuple[float, float]:
    """(min CPU seconds per step, mean NFE per step) on ``batch`` with a negligible learning rate."""
    model = fitted.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-9)
    nfes: list[float] = []

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        outputs = model.objective(batch, "model")
        outputs["loss"].backward()
        optimizer.step()
        nfes.append(float(outputs.get("nfe", torch.tensor(0.0))))

    step()
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(per_repeat):
            step()
        best = min(best, (time.process_time() - started) / per_repeat)
    return best, sum(nfes) / len(nfes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cnf,otflow")
    parser.add_argument("--warmup", type=int, default=300, help="training steps before measuring")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], help="key=value for every model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {}
    for item in args.set:
        key, value = item.split("=", 1)
        settings[key] = int(value) if value.isdigit() else value
    costs = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            fitted = pf.fit("checkerboard", model=name, steps=args.warmup, out=f"{folder}/{name}", figures=False, settings=settings or None)
            batch = fitted.dataset().train[:512]
            batch = fitted.preprocessing.forward(batch)
            costs[name] = step_cost(fitted, batch, args.repeats, 4)
            print(f"{name}: {costs[name][0] * 1e3:.1f} ms CPU per step ({1 / costs[name][0]:.1f} it/s), NFE {costs[name][1]:.1f}", flush=True)
    if "cnf" in costs and "otflow" in costs:
        print(f"otflow / cnf iterations per CPU second: {costs['cnf'][0] / costs['otflow'][0]:.2f}x")


if __name__ == "__main__":
    main()
