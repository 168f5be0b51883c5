"""Benchmark (not a test): pushforward's permutation two-sample tests beside dcor's energy test.

Protocol: 10,000 vs 10,000 standard-normal points in 8 dimensions (the second sample shifted by
0.05 in every coordinate, a shift small enough that the test has work to do), 200
permutations, 2 CPU threads (torch.set_num_threads(2) and the BLAS / OpenMP thread variables
set to 2 before numpy is imported). Times are wall-clock seconds of one call, after a small
warm-up call.

dcor (``dcor.homogeneity.energy_test``) holds the whole pooled distance matrix and copies it
twice per permutation (rows, then columns), so it costs O((n+m)²) per permutation and 3×(n+m)²
float64 of memory (9.6 GB at 20,000 points). By default it is timed on 5,000 vs 5,000 with 50
permutations, and its cost at the full size is extrapolated as

    t(10k vs 10k, 200) ≈ 4 · (t_matrix + 200 · t_per_permutation),

with t_matrix the time of its distance matrix and t_per_permutation = (t_total − t_matrix) / 50
at 5,000 vs 5,000, both scaled by 4 = (20,000 / 10,000)² for the number of pairs. ``--dcor-full``
runs it at the full size instead (slow, ~10 GB).

The classifier two-sample test (``c2st``, each classifier) and precision / recall / density /
coverage (``prdc``, k = 5) are timed on the same data; they have no peer here.

    python benchmarks/two_sample.py
    python benchmarks/two_sample.py --dcor-full
    python benchmarks/two_sample.py --skip-dcor     # only pushforward's own timings
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "2"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pushforward.metrics import c2st, energy_test, mmd_test, prdc  # noqa: E402


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def data(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)), rng.normal(loc=0.05, size=(n, dim))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="points per sample")
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--dcor-n", type=int, default=5_000, help="points per sample for dcor")
    parser.add_argument("--dcor-permutations", type=int, default=50)
    parser.add_argument("--dcor-full", action="store_true", help="run dcor at the full size too")
    parser.add_argument("--skip-dcor", action="store_true", help="time pushforward only")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {torch.get_num_threads()}")

    small_x, small_y = data(200, args.dim, seed=1)
    energy_test(small_x, small_y, permutations=5)  # warm-up
    mmd_test(small_x, small_y, permutations=5)

    x, y = data(args.n, args.dim)
    size = f"{args.n} vs {args.n}, d={args.dim}, {args.permutations} permutations"
    ours = {}
    for name, test in [("energy_test", energy_test), ("mmd_test", mmd_test)]:
        result, seconds = timed(test, torch.from_numpy(x), torch.from_numpy(y), permutations=args.permutations)
        ours[name] = seconds
        print(f"pushforward {name:<11} {size}: {seconds:7.2f} s  statistic {result.statistic:.6g}  p {result.p_value:.4f}")

    for classifier in ("boosting", "knn", "mlp"):
        result, seconds = timed(c2st, torch.from_numpy(x), torch.from_numpy(y), classifier=classifier)
        print(
            f"pushforward c2st {classifier:<8} {args.n} vs {args.n}, d={args.dim}: {seconds:7.2f} s"
            f"  accuracy {result.accuracy:.4f} ± {result.accuracy_se:.4f}  p {result.p_value:.3g}"
        )
    scores, seconds = timed(prdc, torch.from_numpy(x), torch.from_numpy(y))
    print(
        f"pushforward prdc (k=5)     {args.n} vs {args.n}, d={args.dim}: {seconds:7.2f} s"
        f"  precision {scores.precision:.4f} recall {scores.recall:.4f} density {scores.density:.4f} coverage {scores.coverage:.4f}"
    )
    if args.skip_dcor:
        return

    import dcor
    from dcor import distances

    dx, dy = data(args.dcor_n, args.dim)
    scale = (2 * args.n / (2 * args.dcor_n)) ** 2
    _, t_matrix = timed(distances.pairwise_distances, np.concatenate([dx, dy]))
    reference, t_total = timed(dcor.homogeneity.energy_test, dx, dy, num_resamples=args.dcor_permutations, random_state=0)
    per_permutation = (t_total - t_matrix) / args.dcor_permutations
    print(
        f"dcor energy_test {args.dcor_n} vs {args.dcor_n}, {args.dcor_permutations} permutations: {t_total:.2f} s"
        f" (distance matrix {t_matrix:.2f} s, {per_permutation:.3f} s per permutation)"
    )
    mine, t_mine = timed(energy_test, dx, dy, permutations=args.dcor_permutations, seed=0)
    print(
        f"pushforward energy_test same data: {t_mine:.2f} s, {t_total / t_mine:.0f}x faster;"
        f" statistic {mine.statistic:.10g} vs dcor {float(reference.statistic):.10g},"
        f" p {mine.p_value:.4f} vs dcor {reference.pvalue:.4f}"
    )
    if args.dcor_full:
        try:
            _, full = timed(dcor.homogeneity.energy_test, x, y, num_resamples=args.permutations, random_state=0)
        except MemoryError as error:
            # dcor's naive distances build an (n+m, n+m, d) float64 array: 23.8 GiB here.
            print(f"dcor energy_test {size}: could not run on this machine ({error})")
            return
        label = "measured"
    else:
        full = scale * (t_matrix + args.permutations * per_permutation)
        label = f"extrapolated: {scale:.0f} x ({t_matrix:.2f} + {args.permutations} x {per_permutation:.3f}) s"
    print(f"dcor energy_test {size}: {full:.1f} s ({label})")
    print(f"ratio dcor / pushforward energy_test at {size}: {full / ours['energy_test']:.0f}x")


if __name__ == "__main__":
    main()
