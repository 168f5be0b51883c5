"""Benchmark (not a test): GAN mode coverage on the 5×5 grid, and the checkerboard.

Protocol (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018, Table 1): fit a model on
``25gaussians`` (means {−4, −2, 0, 2, 4}², σ = 0.05) with the defaults a user gets from
``pushforward fit 25gaussians --model gan --time T``; draw 2,500 samples; a sample is high
quality within 3σ of its nearest mean, a mode is captured with at least one high-quality
sample, and the mode KL is KL(histogram of high-quality samples over modes ‖ uniform)
(:mod:`pushforward.metrics.modes`). Repeated over seeds 0..N−1. On ``checkerboard``, seeds
0..M−1 (``--checkerboard-seeds``, 4 by default) at their own budget: the energy-distance ratio
against the real-vs-real noise floor and the fraction of samples outside the squares, both by
``sample_quality`` of benchmarks/toy2d.py (10 draws of 10,000 samples against the same held-out
points, the ratio of the mean distances, so that one noisy draw does not decide it), per seed
and on the mean.

Both the model's samples (for ``gan``: discriminator rejection sampling, Azadi et al., ICLR 2019,
with the calibration inside the training budget) and the raw generator's are scored, with the
time to draw 100,000 samples.

Published anchors on the same grid protocol (PacGAN, Table 1): PacGAN4 24.8 modes, 93.6 %
high quality, KL 0.04; a plain GAN 17.3 modes, 94.8 %, KL 0.70. The true mixture itself has
1 − e^{−4.5} ≈ 98.9 % high-quality samples (3σ in 2-D).

    python benchmarks/gan_modes.py                         # gan, 10 seeds × 120 s, checkerboard 4 seeds × 60 s
    python benchmarks/gan_modes.py --seeds 3 --time 30 --checkerboard-time 0
    python benchmarks/gan_modes.py --seeds 0 --checkerboard-seeds 2 --checkerboard-steps 9000
    python benchmarks/gan_modes.py --steps 5000 --set pack=4   # a step budget instead (tuning)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

import pushforward as pf
from pushforward.data import get_toy
from pushforward.hparams import parse_assignments
from pushforward.metrics.modes import PROTOCOL_SAMPLES, mode_coverage

sys.path.insert(0, str(Path(__file__).parent))
from toy2d import ENERGY_REPEATS, noise_floors, sample_quality  # noqa: E402

ANCHORS = {"PacGAN4 (Lin et al. 2018)": (24.8, 0.936, 0.04), "GAN (Lin et al. 2018)": (17.3, 0.948, 0.70)}


def budget(seconds: float, steps: int | None) -> dict[str, float | int | None]:
    return {"time": seconds if steps is None else None, "steps": steps}


def raw_samples(fitted: pf.FittedModel, n: int, seed: int) -> torch.Tensor:
    """The generator's own draws g(z) in data units, without rejection."""
    generator = torch.Generator(device=fitted.model.device).manual_seed(seed)
    with torch.no_grad():
        return fitted.preprocessing.inverse(fitted.model.sample_generator(n, generator)).cpu()


@contextmanager
def generator_alone(fitted: pf.FittedModel) -> Iterator[pf.FittedModel]:
    """``fitted`` sampling by its raw generator (``sampler=generator``) inside the block, so that
    the generator alone is scored by the very same measure as the model's own sampler."""
    hparams = fitted.model.hparams
    sampler = hparams.sampler
    hparams.sampler = "generator"
    try:
        yield fitted
    finally:
        hparams.sampler = sampler


def sampling_seconds(fitted: pf.FittedModel, n: int = 100_000) -> float:
    started = time.perf_counter()
    fitted.sample_tensor(n, seed=0)
    return time.perf_counter() - started


def grid_seed(args: argparse.Namespace, seed: int, settings: dict[str, str]) -> dict[str, float]:
    toy = get_toy("25gaussians")
    with tempfile.TemporaryDirectory() as folder:
        cpu = time.process_time()
        fitted = pf.fit("25gaussians", model=args.model, seed=seed, out=f"{folder}/run", settings=settings,
                        figures=False, **budget(args.time, args.steps))
        cpu = time.process_time() - cpu
        samples = fitted.sample_tensor(PROTOCOL_SAMPLES, seed=10_000 + seed)
        result = mode_coverage(samples, toy.modes, toy.mode_std)
        raw = mode_coverage(raw_samples(fitted, PROTOCOL_SAMPLES, 10_000 + seed), toy.modes, toy.mode_std)
        training = fitted.training
        return {
            "raw_modes": raw.modes_captured,
            "raw_high_quality": raw.high_quality_fraction,
            "raw_mode_kl": raw.mode_kl,
            "calibration_steps": int(getattr(fitted.model, "calibration_steps", 0)),
            "sample_100k_seconds": sampling_seconds(fitted),
            **fitted.model.sampling_facts(),  # DRS: log M, where it came from, acceptance rate
            "seed": seed,
            "modes": result.modes_captured,
            "high_quality": result.high_quality_fraction,
            "mode_kl": result.mode_kl,
            "steps": training.steps,
            "seconds": training.seconds,
            "it_per_s": training.steps / training.seconds,
            # CPU time is what a step costs without contention: on a shared machine, steps /
            # cpu_seconds (one thread) estimates the rate of an uncontended run.
            "cpu_seconds": cpu,
            "status": training.status,
        }


def checkerboard_seed(args: argparse.Namespace, seed: int, settings: dict[str, str]) -> dict[str, float]:
    """One checkerboard run, scored by toy2d's ``sample_quality`` (mean of 10 draws), the model's
    sampler and its generator alone alike."""
    with tempfile.TemporaryDirectory() as folder:
        fitted = pf.fit("checkerboard", model=args.model, seed=seed, out=f"{folder}/run", settings=settings,
                        figures=False, **budget(args.checkerboard_time, args.checkerboard_steps or args.steps))
        floors = noise_floors(fitted.dataset())  # the data's own, shared by both scorings
        quality = sample_quality(fitted, floors=floors)
        with generator_alone(fitted):
            raw = sample_quality(fitted, floors=floors)
        return {
            "seed": seed,
            "energy_ratio": quality["energy_ratio"],
            "energy_ratio_se": quality["energy_ratio_se"],
            "outside_support": quality["outside_support"],
            "raw_energy_ratio": raw["energy_ratio"],
            "raw_outside_support": raw["outside_support"],
            "calibration_steps": int(getattr(fitted.model, "calibration_steps", 0)),
            "sample_100k_seconds": sampling_seconds(fitted),
            **fitted.model.sampling_facts(),
            "steps": fitted.training.steps,
            "seconds": fitted.training.seconds,
        }


def drs_note(row: dict) -> str:
    """"; log M = b (source), acceptance r %" for a DRS row, else nothing."""
    if "drs_log_bound" not in row:
        return ""
    return (f"; log M = {row['drs_log_bound']:.2f} ({row['drs_bound_source']}), "
            f"acceptance {100 * row['drs_acceptance_rate']:.1f} %")


def mean(rows: list[dict[str, float]], key: str) -> float:
    """The mean of ``key`` over the rows where it is finite (nan if none is)."""
    values = [r[key] for r in rows if math.isfinite(r[key])]
    return statistics.fmean(values) if values else math.nan


def checkerboard_summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {
        "energy_ratio": mean(rows, "energy_ratio"),
        "outside_support": mean(rows, "outside_support"),
        "worst_energy_ratio": max(r["energy_ratio"] for r in rows),
        "worst_outside_support": max(r["outside_support"] for r in rows),
        "raw_energy_ratio": mean(rows, "raw_energy_ratio"),
        "raw_outside_support": mean(rows, "raw_outside_support"),
    }


def grid_summary(rows: list[dict[str, float]]) -> dict[str, float | str]:
    return {
        "modes": mean(rows, "modes"),
        "high_quality": mean(rows, "high_quality"),
        "mode_kl": mean(rows, "mode_kl"),
        "all_25": f"{sum(r['modes'] == 25 for r in rows)}/{len(rows)}",
        "worst_high_quality": min(r["high_quality"] for r in rows),
        "worst_mode_kl": max(r["mode_kl"] for r in rows),
        "raw_modes": mean(rows, "raw_modes"),
        "raw_high_quality": mean(rows, "raw_high_quality"),
        "raw_mode_kl": mean(rows, "raw_mode_kl"),
        "sample_100k_seconds": mean(rows, "sample_100k_seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gan", help="a registered GAN (gan, gan-minimax, wgan, wgan-gp)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 on the grid")
    parser.add_argument("--time", type=float, default=120.0, help="training seconds per seed on the grid")
    parser.add_argument("--checkerboard-time", type=float, default=60.0, help="seconds per checkerboard seed (0 = skip)")
    parser.add_argument("--checkerboard-seeds", type=int, default=4, help="seeds 0..M-1 on the checkerboard (0 = skip)")
    parser.add_argument("--steps", type=int, default=None, help="a step budget instead of the times")
    parser.add_argument("--checkerboard-steps", type=int, default=None, help="a step budget per checkerboard seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model / training settings")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end as well")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = parse_assignments(args.set)
    what = f"{args.steps} steps" if args.steps is not None else f"{args.time:g} s"
    print(f"{args.model} {settings or ''} on 25gaussians, {what} per seed, {args.threads} threads, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}")

    rows = []
    for seed in range(args.seeds):
        row = grid_seed(args, seed, settings)
        rows.append(row)
        print(f"seed {seed:2d}: {row['modes']:2d}/25 modes  HQ {100 * row['high_quality']:5.1f} %  "
              f"KL {row['mode_kl']:.4f}  | generator alone {row['raw_modes']:2d}/25, HQ {100 * row['raw_high_quality']:5.1f} %, "
              f"KL {row['raw_mode_kl']:.4f}  ({row['steps']} steps of which {row['calibration_steps']} calibration, "
              f"{row['it_per_s']:.0f} it/s, {row['steps'] / row['cpu_seconds']:.0f} it/CPU-s, {row['status']}; "
              f"100k samples in {row['sample_100k_seconds']:.2f} s{drs_note(row)})", flush=True)

    summary = grid_summary(rows) if rows else None
    if summary is not None:
        print(f"mean over {len(rows)} seeds: {summary['modes']:.2f} modes, HQ {100 * summary['high_quality']:.1f} %, "
              f"KL {summary['mode_kl']:.4f}; 25/25 in {summary['all_25']} seeds; worst HQ "
              f"{100 * summary['worst_high_quality']:.1f} %, worst KL {summary['worst_mode_kl']:.4f}")
        print(f"  the generator alone: {summary['raw_modes']:.2f} modes, HQ {100 * summary['raw_high_quality']:.1f} %, "
              f"KL {summary['raw_mode_kl']:.4f}; 100k samples in {summary['sample_100k_seconds']:.2f} s (mean)")
        for name, (modes, hq, kl) in ANCHORS.items():
            print(f"  anchor {name}: {modes} modes, HQ {100 * hq:.1f} %, KL {kl}")
        print("  target: 25/25 in every seed, HQ ≥ 98 %, KL ≤ 0.01 (the true mixture: HQ 98.9 %)")

    board = None
    if args.checkerboard_seeds > 0 and (args.checkerboard_time > 0 or args.checkerboard_steps):
        print(f"checkerboard: energy ratio and outside share as in benchmarks/toy2d.py (means of "
              f"{ENERGY_REPEATS} draws of 10,000 samples)")
        board_rows = []
        for seed in range(args.checkerboard_seeds):
            started = time.perf_counter()
            row = checkerboard_seed(args, seed, settings)
            board_rows.append(row)
            print(f"checkerboard seed {seed:2d}: energy ratio {row['energy_ratio']:.3f} ± {row['energy_ratio_se']:.3f}, "
                  f"outside the squares {100 * row['outside_support']:.2f} % | generator alone: ratio "
                  f"{row['raw_energy_ratio']:.3f}, outside {100 * row['raw_outside_support']:.2f} %  ({row['steps']} steps "
                  f"of which {row['calibration_steps']} calibration; 100k samples in {row['sample_100k_seconds']:.2f} s"
                  f"{drs_note(row)}; "
                  f"{time.perf_counter() - started:.0f} s with evaluation)", flush=True)
        board = {"seeds": board_rows, "summary": checkerboard_summary(board_rows)}
        means = board["summary"]
        print(f"checkerboard mean over {len(board_rows)} seeds: energy ratio {means['energy_ratio']:.3f}, outside "
              f"{100 * means['outside_support']:.2f} %; worst ratio {means['worst_energy_ratio']:.3f}, worst outside "
              f"{100 * means['worst_outside_support']:.2f} %")
        print(f"  the generator alone: energy ratio {means['raw_energy_ratio']:.3f}, outside "
              f"{100 * means['raw_outside_support']:.2f} % (mean)")
        print("  target: ratio ≤ 1.5, ≤ 2 % outside")
    if args.json:
        print(json.dumps({"grid": rows, "summary": summary, "checkerboard": board}))


if __name__ == "__main__":
    main()
