"""A diffusion whose ε is known exactly: Gaussian data N(μ, s² I), where everything is closed form.

For x_0 ~ N(μ, s²), x_t ~ N(α μ, α² s² + σ²), so the optimal ε̂(x, t) = σ (x − α μ)/(α² s² + σ²)
and the probability-flow ODE keeps the standardised value (x_t − α_t μ)/√(α_t² s² + σ_t²).
"""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.base import GenerativeModel, create
from pushforward.models.diffusion.schedules import NoiseSchedule
from tests.conftest import time_scale_rows

MEAN, SCALE = 0.7, 0.3


class GaussianOracle:
    def __init__(self, schedule: NoiseSchedule, mean: float = MEAN, scale: float = SCALE) -> None:
        self.schedule, self.mean, self.scale = schedule, mean, scale

    def moments(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        alpha, sigma = self.schedule.alpha_sigma(t.to(torch.float64))
        return alpha, sigma, alpha.square() * self.scale**2 + sigma.square()

    def epsilon(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma, variance = self.moments(t)
        return sigma * (x - alpha * self.mean) / variance

    def ode_solution(self, x: torch.Tensor, t: float, s: float) -> torch.Tensor:
        """The probability-flow ODE's exact map from time t to time s."""
        a_t, _, v_t = self.moments(torch.tensor(t))
        a_s, _, v_s = self.moments(torch.tensor(s))
        return a_s * self.mean + torch.sqrt(v_s / v_t) * (x - a_t * self.mean)

    def log_prob(self, x: torch.Tensor, t: float) -> torch.Tensor:
        alpha, _, variance = self.moments(torch.tensor(t))
        return (-0.5 * (x - alpha * self.mean).square() / variance - 0.5 * torch.log(2 * math.pi * variance)).sum(dim=1)


@pytest.fixture(params=["cosine", "linear"])
def oracle(request) -> GaussianOracle:
    return GaussianOracle(NoiseSchedule(request.param))


def random_ddpm(prediction: str) -> GenerativeModel:
    """A small float64 ddpm with random weights, so its ε̂(x, t) depends non-trivially on time.

    The time path's scales of the hidden units stay between about 0.6 and 1.4
    (:func:`~tests.conftest.time_scale_rows`): drawn like the other weights they blow ε̂ up to ~1e5, where
    float64 rounding alone is larger than the samplers' tests allow.
    """
    torch.manual_seed(0)
    model = create("ddpm", (2,), hidden_features=16, hidden_layers=2, space_features=4, prediction=prediction).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
        for parameter, row in time_scale_rows(model.network):
            parameter[row:] *= 0.05
    return model
