"""Minibatch OT pairing is the optimal permutation."""

from __future__ import annotations

import itertools

import torch

from pushforward.models.continuous.couplings import ot_pairing


def test_ot_pairing_is_the_cheapest_permutation():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        x0, x1 = torch.randn(6, 2, generator=generator), torch.randn(6, 2, generator=generator)
        index = ot_pairing(x0, x1)
        assert sorted(index.tolist()) == list(range(6))
        cost = float((x0[index] - x1).pow(2).sum())
        best = min(float((x0[list(p)] - x1).pow(2).sum()) for p in itertools.permutations(range(6)))
        assert abs(cost - best) < 1e-5


def test_ot_pairing_handles_image_shaped_events():
    x0, x1 = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    assert sorted(ot_pairing(x0, x1).tolist()) == list(range(5))
    same = ot_pairing(x1, x1)
    assert same.tolist() == list(range(5))
