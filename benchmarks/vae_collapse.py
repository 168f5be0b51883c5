"""Benchmark (not a test): how often a checkerboard VAE collapses a latent direction, per setting.

Posterior collapse (the encoder leaves a latent direction at the prior and the decoder explains
that data coordinate as noise: about 52 % of samples off the squares) is rare at the defaults
and path-dependent, so it is counted over many seeds. Each ``--variant`` (a group of settings,
``key=value,key=value``) is fitted on the checkerboard for every seed on a STEP budget (each run
repeats bit for bit), one thread per fit, ``--jobs`` fits at a time; ``--set`` applies to every
variant. Per run: the active latent directions of 5,000 test points (fewer than 2: collapsed),
the share of 200,000 samples outside the squares and the test KL gap (the K = eval_samples
estimate on the whole test split). Per variant: the runs collapsed, and the median and range of
both figures over the runs that did not.

    python benchmarks/vae_collapse.py --steps 2500 --seeds 0-19 --set prior=normal \\
        --variant balance_warmup=false --variant balance_warmup=true
    python benchmarks/vae_collapse.py --steps 8000 --seeds 0-19 --variant balance_warmup=true
    python benchmarks/vae_collapse.py --steps 300 --seeds 0,1   # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

import pushforward as pf
from pushforward.errors import UserError
from pushforward.hparams import parse_assignments

sys.path.insert(0, str(Path(__file__).parent))
from machine import header  # noqa: E402
from toy2d import test_nll_and_kl_gap  # noqa: E402

SAMPLES = 200_000
ACTIVITY_POINTS = 5_000


@dataclass
class Run:
    variant: str
    seed: int
    active: int
    outside: float  # %
    kl_gap: float
    cpu_seconds: float


def fit_and_measure(variant: str, settings: dict[str, str], seed: int, steps: int) -> Run:
    """One fit on one thread, then its latent activity, outside share and KL gap."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        started = time.process_time()
        fitted = pf.fit("checkerboard", model="vae", steps=steps, seed=seed, out=f"{folder}/run", figures=False, settings=settings)
        cpu = time.process_time() - started
        dataset = fitted.dataset()
        with torch.no_grad():
            encoded = fitted.preprocessing.forward(dataset.test[:ACTIVITY_POINTS])
            active = fitted.model.diagnostics(encoded)["active_latent_dimensions"]
        samples = torch.as_tensor(fitted.sample(SAMPLES, seed=1234))
        outside = 100 * float((~dataset.toy.support_contains(samples)).double().mean())
        _, gap = test_nll_and_kl_gap(fitted, "checkerboard")
    return Run(variant, seed, active, outside, gap, cpu)


def seed_list(text: str) -> list[int]:
    """``0-19`` or ``0,3,5``."""
    if "-" in text:
        first, last = text.split("-", 1)
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in text.split(",")]


def summary(runs: list[Run]) -> str:
    healthy = [run for run in runs if run.active >= 2]
    collapsed = sorted(run.seed for run in runs if run.active < 2)
    words = f"collapsed {len(collapsed)} of {len(runs)}" + (f" (seeds {', '.join(map(str, collapsed))})" if collapsed else "")
    if healthy:
        outside = [run.outside for run in healthy]
        gaps = [run.kl_gap for run in healthy]
        words += (
            f"; the others: outside median {statistics.median(outside):.2f} % ({min(outside):.2f}-{max(outside):.2f}), "
            f"{sum(value <= 3.0 for value in outside)} of {len(healthy)} at or below 3 %; "
            f"KL gap median {statistics.median(gaps):.4f} ({min(gaps):.4f}-{max(gaps):.4f})"
        )
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--seeds", default="0-19", help="0-19 or 0,3,5")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every variant")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="a group of settings compared with the others; 'defaults' adds none (the default)")
    parser.add_argument("--jobs", type=int, default=2, help="fits at a time, one thread each")
    args = parser.parse_args()
    try:
        common = parse_assignments(args.set)
        # "defaults" (the default) adds nothing to --set.
        variants = {name: {**common, **(parse_assignments(name.split(",")) if name != "defaults" else {})} for name in args.variant or ["defaults"]}
    except UserError as error:
        parser.error(error.one_line())
    try:
        seeds = seed_list(args.seeds)
    except ValueError:
        parser.error(f"--seeds takes 0-19 or 0,3,5, not '{args.seeds}'")
    print(header())
    print(f"# vae on the checkerboard, {args.steps} steps, seeds {args.seeds}, --set {' '.join(args.set) or '(none)'}")
    runs: dict[str, list[Run]] = {name: [] for name in variants}
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(fit_and_measure, name, settings, seed, args.steps) for name, settings in variants.items() for seed in seeds]
        for future in as_completed(futures):
            run = future.result()
            runs[run.variant].append(run)
            state = "COLLAPSED" if run.active < 2 else "ok"
            print(f"{run.variant}  seed {run.seed:>3}  active {run.active}  outside {run.outside:6.2f} %  "
                  f"KL gap {run.kl_gap:.4f}  {run.cpu_seconds:5.1f} CPU s  {state}", flush=True)
    for name, group in runs.items():
        print(f"{name}: {summary(sorted(group, key=lambda run: run.seed))}")


if __name__ == "__main__":
    main()
