"""Benchmark (not a test): where a checkerboard model's samples differ from the data, beyond the
energy ratio.

For a fitted run (``pushforward fit checkerboard --model ...``), and for each sampler setting
given (``--settings``: ``key=value`` pairs separated by commas, each setting applied to the run's
own hyperparameters; one line per setting), it prints:

* each of the 8 squares' share of the samples that land on a square, times 8 (1 = its fair
  share), and a chi-square statistic of those shares against 1/8 (7 degrees of freedom: about 7
  for a perfect model, above 18.5 in only 1 % of perfect models' draws);
* the fraction outside the squares;
* the density within a square by distance to the nearest edge, model ÷ data (a blur or a
  shrink away from the edges shows in the first bins).

The energy distance of 10,000 samples weighs mass balance between distant squares heavily and
a displacement by a few hundredths near the edges hardly at all: these two tell which a model
gets wrong.

    python benchmarks/checkerboard_shares.py RUN
    python benchmarks/checkerboard_shares.py RUN --settings "sampler=ode" "sampler=ddim,sampler_steps=50"
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from torch import Tensor

from machine import header  # this folder's helper: a script's folder is on sys.path

import pushforward as pf
from pushforward.data.toy2d import CHECKERBOARD_CORNERS
from pushforward.hparams import build, parse_assignments

EDGE_BINS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


def square_counts(x: Tensor) -> Tensor:
    """Counts of points in each of the toy's 8 squares (side 2, half-open so that a shared
    corner counts once)."""
    corners = torch.tensor(CHECKERBOARD_CORNERS, dtype=x.dtype, device=x.device)
    inside = ((x[:, None, :] >= corners) & (x[:, None, :] < corners + 2)).all(dim=2)
    return inside.sum(dim=0).double().cpu()


def chi_square_against_uniform(counts: Tensor) -> float:
    """Pearson's statistic of the counts against equal shares."""
    expected = counts.sum() / counts.numel()
    return float(((counts - expected) ** 2 / expected).sum())


def edge_profile(x: Tensor) -> Tensor:
    """Fractions of the points by distance to the nearest edge of their cell (side 2)."""
    within = x / 2 - torch.floor(x / 2)
    distance = 2 * torch.minimum(within, 1 - within).min(dim=1).values
    bins = torch.tensor(EDGE_BINS, dtype=x.dtype)
    return torch.histogram(distance.cpu(), bins=bins).hist / x.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--settings", nargs="*", default=[""], help="sampler settings, e.g. sampler=ode")
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(header())
    fitted = pf.load(args.run)
    real = fitted.dataset().fresh_real_samples(args.samples, seed=99).double()
    real_profile = edge_profile(real)
    real_counts = square_counts(real)
    print(f"data: square shares x 8 {[round(v, 4) for v in (real_counts / real_counts.sum() * 8).tolist()]}, chi2 {chi_square_against_uniform(real_counts):.1f}")
    hparams = fitted.model.hparams
    saved = dataclasses.asdict(hparams)
    toy = fitted.dataset().toy
    for setting in args.settings:
        # Each setting starts from the run's own values, converted and validated as `--set` is
        # (a plain type(value)(text) would read "false" as True).
        updated = build(type(hparams), {**saved, **parse_assignments(list(filter(None, setting.split(","))))}, what="model")
        for field in dataclasses.fields(hparams):
            setattr(hparams, field.name, getattr(updated, field.name))
        blocks = [fitted.sample_tensor(100_000, seed=100 + i) for i in range(-(-args.samples // 100_000))]
        samples = torch.cat(blocks)[: args.samples].double()
        counts = square_counts(samples)
        shares = (counts / counts.sum() * 8).tolist()
        outside = float((~toy.support_contains(samples)).double().mean())  # the toy's closed squares
        ratio = edge_profile(samples) / real_profile
        print(f"{setting or 'defaults'}: square shares x 8 {[round(v, 4) for v in shares]}, chi2 {chi_square_against_uniform(counts):.1f}, outside {100 * outside:.2f} %")
        print("  density by distance to the nearest edge, model / data: " + ", ".join(f"{lo}-{hi}: {r:.2f}" for lo, hi, r in zip(EDGE_BINS[:-1], EDGE_BINS[1:], ratio.tolist())))


if __name__ == "__main__":
    main()
