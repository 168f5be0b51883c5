"""Benchmark (not a test): training settings compared at an equal number of steps.

A wall-clock budget on a shared machine hands a setting more or fewer steps depending on what
else runs; a STEP budget does not, so learning rates (or any other ``--set``) compare on the
same optimisation. Each (model, learning rate, seed) is one ``pushforward fit`` of the toy for
``--steps`` steps on one thread, with everything else at the model's defaults; reported: how
the run ended (a learning rate too high ends "diverged", with the best weights kept), its CPU
seconds, the test NLL and KL gap (``toy2d.test_nll_and_kl_gap``) and the energy-distance ratio
of its samples (``toy2d.sample_quality`` over ``--energy-draws`` draws; 0 skips it).

This is what set flow matching's learning rate (``FLOW_MATCHING_TRAINING`` in
``pushforward/models/continuous/flow_matching.py``): 24k steps on the checkerboard.

    python benchmarks/settings_at_equal_steps.py                        # rectified, cfm; 3 lrs; 24k steps
    python benchmarks/settings_at_equal_steps.py --models rectified --seeds 0,1 --lrs 8e-3
    python benchmarks/settings_at_equal_steps.py --steps 300 --lrs 8e-3 --seeds 0   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import pushforward as pf
from pushforward.hparams import parse_assignments

sys.path.insert(0, str(Path(__file__).parent))
from toy2d import sample_quality, test_nll_and_kl_gap  # noqa: E402


@dataclass
class Run:
    model: str
    lr: float
    seed: int
    steps: int  # steps taken: fewer than asked when training diverged
    status: str
    cpu_seconds: float
    test_nll: float
    kl_gap: float
    energy_ratio: float | None


def run(toy: str, model: str, lr: float, seed: int, steps: int, settings: dict[str, str], energy_draws: int) -> Run:
    """One fit of ``model`` on ``toy`` at learning rate ``lr`` for ``steps`` steps, then its scores."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.process_time()
        fitted = pf.fit(toy, model=model, steps=steps, seed=seed, out=f"{folder}/run", figures=False, settings={**settings, "lr": lr})
        cpu = time.process_time() - started
        training = fitted.training
        assert training is not None
        nll, gap = test_nll_and_kl_gap(fitted, toy)
        energy = sample_quality(fitted, repeats=energy_draws)["energy_ratio"] if energy_draws > 0 else None
        return Run(model, lr, seed, training.steps, training.status, cpu, nll, gap, energy)


def print_table(runs: list[Run]) -> None:
    print()
    print("| model | lr | seed | steps | status | CPU s | test NLL | KL gap | energy ratio |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in runs:
        energy = "—" if r.energy_ratio is None else f"{r.energy_ratio:.2f}"
        print(
            f"| {r.model} | {r.lr:g} | {r.seed} | {r.steps:,} | {r.status} | {r.cpu_seconds:.0f} | "
            f"{r.test_nll:.4f} | {r.kl_gap:.4f} | {energy} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toy", default="checkerboard")
    parser.add_argument("--models", default="rectified,cfm", help="our recipes, comma-separated")
    parser.add_argument("--lrs", default="4e-3,8e-3,1.2e-2", help="learning rates, comma-separated")
    parser.add_argument("--steps", type=int, default=24_000, help="training steps of every run")
    parser.add_argument("--seeds", default="0", help="seeds, comma-separated")
    parser.add_argument("--energy-draws", type=int, default=3, help="sample draws for the energy ratio (0: skip)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="other settings for every run")
    parser.add_argument("--json", help="also write the runs to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    settings = parse_assignments(args.set)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {platform.processor() or platform.machine()} · "
          f"{args.threads} threads · torch {torch.__version__} · {args.toy} · {args.steps:,} steps per run")
    runs: list[Run] = []
    for model in args.models.split(","):
        for lr in (float(value) for value in args.lrs.split(",")):
            for seed in (int(value) for value in args.seeds.split(",")):
                runs.append(run(args.toy, model, lr, seed, args.steps, settings, args.energy_draws))
                print(json.dumps(asdict(runs[-1])), flush=True)
    print_table(runs)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump([asdict(r) for r in runs], stream, indent=2)


if __name__ == "__main__":
    main()
