"""The energy distance's noise floor on a toy: how many draws its estimate needs.

The floor is the energy distance between fresh real points and the held-out points that
``toy2d.py`` scores samples against (10,000 of each; draw r against block r mod 10 of the test
split); an energy ratio divides by its mean. This prints the mean of the first 10 draws (what
``toy2d.py`` used before 2026-12-04), of all ``--draws`` (``toy2d.FLOOR_REPEATS`` by default),
one draw's coefficient of variation, and the population value 2E‖X−X′‖/n for comparison
(E‖X−X′‖ from two fresh samples of 20,000).

    python benchmarks/energy_floor.py
    python benchmarks/energy_floor.py --toy moons --draws 100
"""

from __future__ import annotations

import argparse
import time

import torch

from machine import header  # this folder's helper: a script's folder is on sys.path
from toy2d import FLOOR_REPEATS, noise_floors

from pushforward.data import get_toy, load_dataset, resolve_spec
from pushforward.metrics.distances import mean_pairwise_distance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toy", default="checkerboard")
    parser.add_argument("--draws", type=int, default=FLOOR_REPEATS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(header())
    n = 10_000
    started = time.perf_counter()
    floors = noise_floors(load_dataset(resolve_spec(args.toy)), n=n, repeats=args.draws)
    seconds = time.perf_counter() - started
    toy = get_toy(args.toy)
    spread = mean_pairwise_distance(toy.sample(20_000, seed=99).double(), toy.sample(20_000, seed=98).double())
    first = floors[: min(10, args.draws)]
    print(f"{args.toy}, n = {n}, {args.draws} draws in {seconds:.1f} s")
    print(f"mean of the first {first.numel()} draws: {float(first.mean()):.4e}")
    print(f"mean of all {floors.numel()} draws: {float(floors.mean()):.4e} (relative SE {float(floors.std() / floors.mean()) / floors.numel() ** 0.5:.3f})")
    print(f"one draw's coefficient of variation: {float(floors.std() / floors.mean()):.3f}")
    print(f"population floor 2E|X-X'|/n: {2 * float(spread) / n:.4e}")


if __name__ == "__main__":
    main()
