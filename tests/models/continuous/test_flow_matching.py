"""Flow matching's regression target: its minimiser is the marginal velocity of the path."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create
from tests.conftest import forget_setting


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


@pytest.mark.parametrize(
    "settings",
    [
        {"parameterization": "velocity", "time_sampling": "power", "time_power": 1.0},
        {"parameterization": "velocity", "time_sampling": "power", "time_power": 1 / 3},
        {"parameterization": "v", "time_sampling": "logit"},
    ],
)
def test_regression_loss_is_minimised_by_the_marginal_velocity(settings):
    torch.manual_seed(0)
    model = create("rectified", (2,), **settings).double()
    mean, scale = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5
    x1 = mean + scale * torch.randn(200_000, 2, dtype=torch.float64)
    losses = {}
    for perturbation in (0.0, 0.3):
        model.field = GaussianOracle(mean, scale, perturbation)
        losses[perturbation] = float(model.regression_loss(x1, torch.Generator().manual_seed(1)))
    # E w‖u + δ − target‖² = E w‖u − target‖² + E w‖δ‖² when u is the conditional mean of the
    # target, whatever the times' law and the weight w(t) (s² under the v-parameterisation).
    generator = torch.Generator().manual_seed(1)
    x0 = torch.randn(x1.shape, generator=generator, dtype=torch.float64)
    t = model.training_times(x1.shape[0], x1, generator)
    weight = t.square() + (1 - t).square() if settings["parameterization"] == "v" else torch.ones_like(t)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    excess = weight * (0.3 * torch.sin(3 * xt + t[:, None])).pow(2).sum(1)
    assert losses[0.3] - losses[0.0] == pytest.approx(float(excess.mean()), abs=4 * float(excess.std()) / math.sqrt(len(excess)) + 0.01)
    assert losses[0.0] < losses[0.3]


def test_v_parameterised_loss_is_the_v_prediction_error():
    # Independently of the field's algebra: v = α x0 − σ x1 with α = t/s, σ = (1 − t)/s.
    torch.manual_seed(0)
    model = create("rectified", (2,), hidden_features=16).double()
    x1 = torch.randn(500, 2, dtype=torch.float64) * 0.7 + 0.3
    with torch.no_grad():
        loss = float(model.regression_loss(x1, torch.Generator().manual_seed(4)))
    generator = torch.Generator().manual_seed(4)
    x0 = torch.randn(x1.shape, generator=generator, dtype=torch.float64)
    t = model.training_times(x1.shape[0], x1, generator)[:, None]
    s = (t.square() + (1 - t).square()).sqrt()
    xt = t * x1 + (1 - t) * x0
    v = (t * x0 - (1 - t) * x1) / s
    with torch.no_grad():
        predicted = model.field.network(xt, 0.25 * torch.logit(t).clamp(-2.0, 7.0).reshape(-1))
    assert loss == pytest.approx(float((v - predicted).square().sum(1).mean()), rel=1e-10)


def test_logit_times_cover_the_chosen_log_snr_range_evenly():
    model = create("rectified", (2,), logit_min=-2.0, logit_max=6.0)
    n = 1000
    t = model.training_times(n, torch.zeros(n, 2), torch.Generator().manual_seed(2))
    # Runs of points_per_level = 16 consecutive points share a time (the last run is shorter).
    times, counts = torch.unique_consecutive(t, return_counts=True)
    levels = math.ceil(n / 16)
    assert times.shape == (levels,) and set(counts.tolist()) <= {15, 16}
    logits = torch.sort(torch.logit(times.double())).values
    assert float(logits[0]) >= -2.0 - 1e-4 and float(logits[-1]) <= 6.0 + 1e-4
    # Stratified: one offset, even steps of (6 − (−2))/levels in logit (float32 rounding near t = 1).
    torch.testing.assert_close(logits.diff(), torch.full((levels - 1,), 8.0 / levels, dtype=torch.float64), atol=2e-3, rtol=0)
    # With one point per level every point has its own time, n even steps apart.
    single = create("rectified", (2,), logit_min=-2.0, logit_max=6.0, points_per_level=1)
    logits = torch.sort(torch.logit(single.training_times(n, torch.zeros(n, 2), torch.Generator().manual_seed(2)).double())).values
    torch.testing.assert_close(logits.diff(), torch.full((n - 1,), 8.0 / n, dtype=torch.float64), atol=2e-3, rtol=0)


@pytest.mark.parametrize("settings", [{"logit_min": 3.0, "logit_max": 3.0}, {"logit_min": float("-inf")}])
def test_an_empty_or_infinite_logit_range_is_a_user_error(settings):
    with pytest.raises(UserError) as caught:
        create("cfm", (2,), **settings)
    assert "logit_min must be below logit_max" in caught.value.one_line()


def test_a_run_saved_before_the_v_field_existed_loads_as_it_was(tmp_path):
    import pushforward as pf
    from pushforward.models.continuous.fields import MLPField

    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "parameterization": "velocity",
            "time_sampling": "power", "sample_grid_power": "1"}
    run = pf.fit("checkerboard", model="cfm", steps=3, seed=1, out=tmp_path / "old", settings=tiny, figures=False)
    for name in ("parameterization", "time_sampling", "sample_grid_power", "points_per_level"):
        forget_setting(run.run.path, name)
    again = pf.load(run.run.path)
    assert isinstance(again.model.field, MLPField) and again.model.hparams.time_sampling == "power"
    assert again.model.hparams.points_per_level == 1  # a time per point, as it was trained
    assert again.model.sample_solver.grid_power == 1.0
    x = torch.as_tensor(run.dataset().test[:20])
    torch.testing.assert_close(again.model.log_prob(x), run.model.log_prob(x))


def test_a_run_saved_before_time_scales_loads_with_a_shift_only_v_network(tmp_path):
    import pushforward as pf

    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "time_scale": "false"}
    run = pf.fit("checkerboard", model="rectified", steps=3, seed=2, out=tmp_path / "old", settings=tiny, figures=False)
    forget_setting(run.run.path, "time_scale")
    again = pf.load(run.run.path)
    assert again.model.hparams.time_scale is False and again.model.field.network.time_scale is False
    x = torch.as_tensor(run.dataset().test[:20])
    torch.testing.assert_close(again.model.log_prob(x), run.model.log_prob(x))
