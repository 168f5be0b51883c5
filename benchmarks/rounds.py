"""Interleaved timing rounds for the benchmarks that compare variants on this drifting machine.

Its speed changes by up to 1.4x within minutes, so variants timed one after the other compare
the machine's moods, not the variants. Here every round times each variant once, back to back,
in an order that alternates between rounds, and a comparison is the median of the rounds' own
ratios, with its quartiles.
"""

from __future__ import annotations

import statistics
from typing import Callable, Hashable, TypeVar

Key = TypeVar("Key", bound=Hashable)


def interleaved(measure: dict[Key, Callable[[], float]], rounds: int) -> dict[Key, list[float]]:
    """Each variant's measurement (a cost, e.g. seconds) in every round."""
    names = list(measure)
    results: dict[Key, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            results[name].append(measure[name]())
    return results


def ratio_quartiles(numerator: list[float], denominator: list[float]) -> tuple[float, float, float]:
    """``(median, lower quartile, upper quartile)`` of the per-round ratios."""
    low, median, high = statistics.quantiles([a / b for a, b in zip(numerator, denominator)], n=4)
    return median, low, high
