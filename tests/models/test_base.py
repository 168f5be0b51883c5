"""Shared helpers of the model interface."""

from __future__ import annotations

import torch

from pushforward.models.base import stratified_uniform


def test_stratified_uniform_spreads_a_batch_evenly_and_each_draw_is_uniform():
    u = stratified_uniform(50, torch.Generator().manual_seed(0))
    assert u.dtype == torch.float64 and ((0 <= u) & (u < 1)).all()
    torch.testing.assert_close(torch.sort(u).values.diff(), torch.full((49,), 1 / 50, dtype=torch.float64))
    # Over many batches, any one position is uniform on (0, 1): mean 1/2, variance 1/12.
    first = torch.stack([stratified_uniform(7, torch.Generator().manual_seed(seed), dtype=torch.float32)[3] for seed in range(4000)])
    assert abs(float(first.mean()) - 0.5) < 4 * (1 / 12 / 4000) ** 0.5
    assert abs(float(first.var()) - 1 / 12) < 0.01


def test_stratified_levels_are_shared_by_consecutive_draws_and_each_draw_stays_uniform():
    u = stratified_uniform(50, torch.Generator().manual_seed(0), points_per_level=7)
    levels, counts = torch.unique_consecutive(u, return_counts=True)
    # ⌈50 / 7⌉ = 8 evenly spaced levels in runs of 6 or 7 draws.
    assert levels.shape == (8,) and set(counts.tolist()) <= {6, 7} and int(counts.sum()) == 50
    torch.testing.assert_close(torch.sort(levels).values.diff(), torch.full((7,), 1 / 8, dtype=torch.float64))
    # Over many batches, any one position is still uniform on (0, 1).
    last = torch.stack([stratified_uniform(7, torch.Generator().manual_seed(seed), points_per_level=3)[6] for seed in range(4000)])
    assert abs(float(last.mean()) - 0.5) < 4 * (1 / 12 / 4000) ** 0.5
    assert abs(float(last.var()) - 1 / 12) < 0.01
    # More points per level than draws: one level for all.
    assert torch.unique(stratified_uniform(9, torch.Generator().manual_seed(3), points_per_level=20)).numel() == 1


def test_precise_mean_is_the_float64_mean_of_float32_values_and_detaches():
    from pushforward.models.base import precise_mean

    values = (torch.linspace(0, 1, 10_001) * 3.3 + 1e4).float().requires_grad_()
    result = precise_mean(values)
    assert isinstance(result, float)
    assert result == float(values.detach().double().mean())
