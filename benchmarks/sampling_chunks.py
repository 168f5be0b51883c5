"""Benchmark (not a test): wall time of 100,000 ddpm samples against the rows per network call.

On the CPU the diffusion samplers push their points through the denoiser in chunks: the
ancestral sampler (``ddpm``) in chunks of ``DEFAULT_CHUNK_ROWS`` with the threads inside each
operation, the deterministic ones (``ddim``, ``dpm-solver++``) in chunks of ``THREAD_CHUNK_ROWS``
on each thread's block of rows (``pushforward.models.diffusion.samplers``). For each sampler the
script sets the constant that sampler reads. It draws 100,000
samples from a briefly trained default ``ddpm`` (sampling costs the same whatever the weights)
with each sampler and each chunk size in interleaved rounds (``rounds.py``), because this
machine's speed drifts by up to 1.4x within minutes, and prints per chunk size the median time
and the median of the rounds' ratios to the first size, with quartiles.

    python benchmarks/sampling_chunks.py --threads 2 --rows 8192,2048,4096 --samplers ddim
    python benchmarks/sampling_chunks.py --threads 2 --rows 32768,4096 --samplers ddpm
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial

import torch
from machine import header, speed_probe  # this folder's helpers: a script's folder is on sys.path
from rounds import interleaved, ratio_quartiles

import pushforward as pf
import pushforward.models.diffusion.model as diffusion_model


def sample_seconds(fitted: pf.FittedModel, rows: int) -> float:
    """Wall seconds for 100,000 samples drawn ``rows`` points per network call (per thread for
    the deterministic samplers)."""
    if fitted.model.hparams.sampler == "ddpm":
        diffusion_model.DEFAULT_CHUNK_ROWS = rows
    else:
        diffusion_model.THREAD_CHUNK_ROWS = rows
    started = time.perf_counter()
    fitted.sample_tensor(100_000, seed=1)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", default="8192,4096,16384", help="comma-separated chunk sizes; the first is the reference")
    parser.add_argument("--samplers", default="ddim,dpm-solver++")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(header(), flush=True)
    sizes = [int(value) for value in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        fitted = pf.fit("checkerboard", model="ddpm", steps=300, seed=0, out=f"{folder}/run", figures=False)
        for sampler in args.samplers.split(","):
            fitted.model.hparams.sampler = sampler
            fitted.model.hparams.sampler_steps = 50
            fitted.sample_tensor(1000, seed=0)  # first-call costs out of the way
            seconds = interleaved({size: partial(sample_seconds, fitted, size) for size in sizes}, args.rounds)
            reference = seconds[sizes[0]]
            for size in sizes:
                median, low, high = ratio_quartiles(seconds[size], reference)
                print(
                    f"{sampler:>13} · {args.threads} thread(s) · {size:>7,} rows: median {statistics.median(seconds[size]):.3f} s, "
                    f"ratio to {sizes[0]:,} rows {median:.3f} (quartiles {low:.3f}–{high:.3f})"
                )
    print(f"# speed probe after: {speed_probe():.1f} ms")


if __name__ == "__main__":
    main()
