"""ActNorm (Kingma & Dhariwal, 2018): data-dependent initialisation that survives save and load."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.flows import ActNorm

SHAPES = [(2,), (5,), (3, 4, 4)]


def batch(shape, n=256, seed=0):
    generator = torch.Generator().manual_seed(seed)
    scale = torch.linspace(0.5, 4.0, shape[0]).view(1, shape[0], *([1] * (len(shape) - 1)))
    shift = torch.linspace(-3.0, 2.0, shape[0]).view(1, shape[0], *([1] * (len(shape) - 1)))
    return torch.randn(n, *shape, generator=generator, dtype=torch.float64) * scale + shift


@pytest.mark.parametrize("shape", SHAPES)
def test_first_training_forward_standardises_each_feature(shape):
    layer = ActNorm(shape[0]).double().train()
    x = batch(shape)
    z, _ = layer(x)
    per_feature = z.transpose(0, 1).reshape(shape[0], -1)
    torch.testing.assert_close(per_feature.mean(dim=1), torch.zeros(shape[0], dtype=z.dtype), atol=1e-10, rtol=0)
    torch.testing.assert_close(per_feature.var(dim=1, unbiased=False), torch.ones(shape[0], dtype=z.dtype), atol=1e-10, rtol=0)
    # Later batches do not re-initialise.
    loc = layer.loc.detach().clone()
    layer(batch(shape, seed=1) * 10)
    assert torch.equal(layer.loc.detach(), loc)


def test_evaluation_mode_does_not_initialise():
    layer = ActNorm(3).eval()
    x = batch((3,)).float()
    z, log_det = layer(x)
    assert torch.equal(z, x) and torch.equal(log_det, torch.zeros(x.shape[0]))
    assert not bool(layer.initialized)


def test_initialised_flag_is_saved_and_a_loaded_layer_is_not_reinitialised():
    trained = ActNorm(3).double().train()
    trained(batch((3,)))
    state = trained.state_dict()
    assert "initialized" in state and bool(state["initialized"])

    fresh = ActNorm(3).double().train()
    fresh.load_state_dict(state)
    z, _ = fresh(batch((3,), seed=7) * 5 + 1)
    torch.testing.assert_close(fresh.loc, trained.loc, atol=0, rtol=0)
    torch.testing.assert_close(fresh.log_scale, trained.log_scale, atol=0, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_and_log_det_against_autograd(shape, flowcheck):
    layer = ActNorm(shape[0]).double().train()
    layer(batch(shape))
    layer.eval()
    x = batch(shape, n=3, seed=2)
    flowcheck.assert_round_trip(layer, x)
    flowcheck.assert_log_det_matches_autograd(layer, x)
