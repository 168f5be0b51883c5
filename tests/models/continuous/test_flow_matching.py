"""Flow matching's regression target: its minimiser is the marginal velocity of the path."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.base import create


class GaussianOracle(torch.nn.Module):
    """The marginal velocity E[x1 − x0 | x_t = x] of the straight path between N(0, I) and
    N(m, s² I) with independent pairs: u_t(x) = m + (σ_t'/σ_t)(x − t m), σ_t² = (1−t)² + t² s²,
    plus an optional perturbation δ(t, x)."""

    def __init__(self, mean, scale, perturbation=0.0):
        super().__init__()
        self.mean, self.scale, self.perturbation = mean, scale, perturbation

    def forward(self, t, x):
        t = t.reshape(-1, 1)
        variance = (1 - t) ** 2 + t**2 * self.scale**2
        rate = (-(1 - t) + t * self.scale**2) / variance
        return self.mean + rate * (x - t * self.mean) + self.perturbation * torch.sin(3 * x + t)


def test_regression_loss_is_minimised_by_the_marginal_velocity():
    torch.manual_seed(0)
    model = create("rectified", (2,)).double()
    mean, scale = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5
    x1 = mean + scale * torch.randn(200_000, 2, dtype=torch.float64)
    losses = {}
    for perturbation in (0.0, 0.3):
        model.field = GaussianOracle(mean, scale, perturbation)
        losses[perturbation] = float(model.regression_loss(x1, torch.Generator().manual_seed(1)))
    # E‖u + δ − target‖² = E‖u − target‖² + E‖δ‖² when u is the conditional mean of the target.
    generator = torch.Generator().manual_seed(1)
    x0 = torch.randn(x1.shape, generator=generator, dtype=torch.float64)
    t = torch.rand(x1.shape[0], generator=generator, dtype=torch.float64)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    excess = (0.3 * torch.sin(3 * xt + t[:, None])).pow(2).sum(1)
    assert losses[0.3] - losses[0.0] == pytest.approx(float(excess.mean()), abs=4 * float(excess.std()) / math.sqrt(len(excess)) + 0.01)
    assert losses[0.0] < losses[0.3]


@pytest.mark.parametrize("name,coupling,path", [("cfm", "independent", "lipman"), ("otcfm", "ot", "linear"), ("rectified", "independent", "linear")])
def test_presets_pick_their_coupling_and_path(name, coupling, path):
    model = create(name, (2,))
    assert (model.hparams.coupling, model.hparams.path) == (coupling, path)
    loss = model.objective(torch.randn(64, 2), "model")["loss"]
    assert torch.isfinite(loss) and loss > 0
