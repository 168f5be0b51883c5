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
fastest round. Each model's arithmetic per step is counted too (floating-point operations of
its matrix products, and the entries its other operations write), so the time ratio can be set
against the work ratio: a model that is faster per unit of work is better written, one that
does less work is a cheaper method.

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
from torch.utils._python_dispatch import TorchDispatchMode
from machine import header, speed_probe  # this folder's helpers: a script's folder is on sys.path
from rounds import interleaved, ratio_quartiles

import pushforward as pf
from pushforward.errors import UserError
from pushforward.hparams import parse_assignments


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


class ArithmeticCount(TorchDispatchMode):
    """Counts the operations a step dispatches: FLOPs of matrix products, entries written by the rest.

    (torch's own FlopCounterMode cannot watch the ``autograd.grad`` calls of ``cnf``'s exact
    divergence, hence this small counter.)
    """

    def __init__(self) -> None:
        super().__init__()
        self.matrix_flops = 0
        self.other_entries = 0
        self.operations = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self.operations += 1
        aten = torch.ops.aten
        packet = func.overloadpacket
        if packet in (aten.mm, aten.addmm, aten.addmm_):
            left, right = (args[0], args[1]) if packet is aten.mm else (args[1], args[2])
            self.matrix_flops += 2 * left.shape[0] * left.shape[1] * right.shape[1]
        elif packet in (aten.mv, aten.addmv, aten.addmv_):
            self.matrix_flops += 2 * (args[0] if packet is aten.mv else args[1]).numel()
        elif packet is aten.bmm:
            left, right = args[0], args[1]
            self.matrix_flops += 2 * left.shape[0] * left.shape[1] * left.shape[2] * right.shape[2]
        elif isinstance(out, torch.Tensor):
            self.other_entries += out.numel()
        return out


def count_arithmetic(step: Callable[[], None]) -> ArithmeticCount:
    counter = ArithmeticCount()
    with counter:
        step()
    return counter


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
    try:
        settings = parse_assignments(args.set)  # strings: `fit` reads them as the CLI's --set
    except UserError as error:
        parser.error(error.one_line())
    torch.set_num_threads(1)
    print(header(), flush=True)
    names = args.models.split(",")
    steps: dict[str, Callable[[], None]] = {}
    nfes: dict[str, list[float]] = {name: [] for name in names}
    counts: dict[str, ArithmeticCount] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            fitted = pf.fit("checkerboard", model=name, steps=args.warmup, out=f"{folder}/{name}", figures=False, settings=settings or None)
            batch = fitted.preprocessing.forward(fitted.dataset().train[:512])
            steps[name] = step_function(fitted, batch, nfes[name])
            steps[name]()  # the first step pays one-off costs
            counts[name] = count_arithmetic(steps[name])
        measure = {name: partial(seconds_per_step, steps[name], args.per_round) for name in names}
        seconds = interleaved(measure, args.rounds)
    for name in names:
        fastest = min(seconds[name])
        count = counts[name]
        print(
            f"{name}: {fastest * 1e3:.1f} ms CPU per step in the fastest round ({1 / fastest:.1f} it/s), "
            f"NFE {statistics.mean(nfes[name]):.1f}; per step {count.matrix_flops / 1e9:.3f} GFLOP in matrix products, "
            f"{count.other_entries / 1e6:.1f} M entries written by the others; {count.operations} operations",
            flush=True,
        )
    if "cnf" in names and "otflow" in names:
        median, low, high = ratio_quartiles(seconds["cnf"], seconds["otflow"])
        print(f"otflow / cnf iterations per CPU second: {median:.2f}x (median of {args.rounds} rounds; quartiles {low:.2f}-{high:.2f})")
        flops = counts["cnf"].matrix_flops / counts["otflow"].matrix_flops
        entries = counts["cnf"].other_entries / counts["otflow"].other_entries
        print(f"cnf / otflow arithmetic per step: {flops:.2f}x the matrix-product FLOPs, {entries:.2f}x the other entries written")
    print(f"# speed probe after: {speed_probe():.1f} ms")


if __name__ == "__main__":
    main()
