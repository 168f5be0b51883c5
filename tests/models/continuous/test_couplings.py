"""Minibatch OT pairing is the optimal permutation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from pushforward.models.continuous.couplings import blockwise_ot_pairing, ot_pairing


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


def test_ot_pairing_reaches_pots_optimal_transport_cost():
    # An independent reference: POT's network simplex on the same uniform-weight problem.
    ot = pytest.importorskip("ot")
    generator = torch.Generator().manual_seed(1)
    x0, x1 = torch.randn(200, 2, generator=generator, dtype=torch.float64), torch.rand(200, 2, generator=generator, dtype=torch.float64)
    cost = torch.cdist(x1, x0).square().numpy()
    weights = np.full(200, 1 / 200)
    reference = float((ot.emd(weights, weights, cost) * cost).sum()) * 200
    index = ot_pairing(x0, x1)
    assert float((x0[index] - x1).square().sum()) == pytest.approx(reference, rel=1e-10)


def test_blockwise_pairing_permutes_within_each_block_only():
    generator = torch.Generator().manual_seed(2)
    x0, x1 = torch.randn(70, 2, generator=generator), torch.randn(70, 2, generator=generator)
    index = blockwise_ot_pairing(x0, x1, 32)  # blocks of 32, 32 and a last one of 6
    for start, stop in ((0, 32), (32, 64), (64, 70)):
        block = index[start:stop]
        assert sorted(block.tolist()) == list(range(start, stop))
        assert torch.equal(block, ot_pairing(x0[start:stop], x1[start:stop]) + start)


def test_blockwise_pairing_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="one size"):
        blockwise_ot_pairing(torch.zeros(4, 2), torch.zeros(5, 2), 2)
