"""GAN losses: their formulas in float64, the discriminator's optimum, the gradient penalty."""

from __future__ import annotations

import math

import torch
from torch import nn

from pushforward.models.gan import losses
from pushforward.nn.mlp import MLP


def test_losses_match_their_formulas_in_float64():
    torch.manual_seed(0)
    real, fake = torch.randn(50, dtype=torch.float64) * 3, torch.randn(40, dtype=torch.float64) * 3
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected_j = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    torch.testing.assert_close(losses.discriminator_loss(real, fake), -expected_j)
    torch.testing.assert_close(losses.generator_loss_minimax(fake), torch.log(1 - d_fake).mean())
    torch.testing.assert_close(losses.generator_loss_nonsaturating(fake), -torch.log(d_fake).mean())
    torch.testing.assert_close(losses.critic_loss_wasserstein(real, fake), fake.mean() - real.mean())
    torch.testing.assert_close(losses.generator_loss_wasserstein(fake), -fake.mean())


def test_losses_stay_finite_for_extreme_logits():
    logits = torch.tensor([-1e4, 1e4])
    assert torch.isfinite(losses.discriminator_loss(logits, logits))
    assert torch.isfinite(losses.generator_loss_minimax(logits))
    assert torch.isfinite(losses.generator_loss_nonsaturating(logits))


def test_minimax_generator_loss_saturates_where_the_nonsaturating_one_does_not():
    # Goodfellow et al. (2014), Section 3: when D rejects the samples, log(1 − D) is flat.
    logit = torch.tensor([-8.0], requires_grad=True)
    (minimax,) = torch.autograd.grad(losses.generator_loss_minimax(logit), logit)
    (nonsaturating,) = torch.autograd.grad(losses.generator_loss_nonsaturating(logit), logit)
    assert abs(float(minimax)) < 1e-3 < abs(float(nonsaturating))


def test_discriminator_optimum_on_a_fixed_generator_approaches_p_over_p_plus_q():
    """Goodfellow et al. (2014), Proposition 1: D*(x) = p(x) / (p(x) + q(x)).

    p = N(0, 1) (data), q = N(0, 2²) (a fixed generator): log p − log q = log 2 − 3x²/8, a
    quadratic, so the optimum is not a logistic regression in x and the critic must learn it.
    """
    torch.manual_seed(0)
    critic = MLP(1, 1, 32, 2, "tanh")
    optimizer = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(1500):
        real, fake = torch.randn(512, 1), 2 * torch.randn(512, 1)
        loss = losses.discriminator_loss(critic(real).squeeze(-1), critic(fake).squeeze(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = torch.linspace(-2.5, 2.5, 101)[:, None]
    with torch.no_grad():
        learned = torch.sigmoid(critic(x).squeeze(-1))
    optimum = torch.sigmoid(math.log(2) - 3 * x.squeeze(-1) ** 2 / 8)
    assert float((learned - optimum).abs().max()) < 0.05
    # At the optimum the loss is log 4 − 2 JS(p ‖ q) < log 4; check the critic got below it.
    assert float(loss.detach()) < math.log(4) - 0.05


class _Linear(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + 0.3


def test_gradient_penalty_is_zero_for_a_unit_slope_linear_critic():
    torch.manual_seed(0)
    direction = torch.randn(5, dtype=torch.float64)
    critic = _Linear(direction / direction.norm())
    real, fake = torch.randn(64, 5, dtype=torch.float64), torch.randn(64, 5, dtype=torch.float64) + 2
    assert float(losses.gradient_penalty(critic, real, fake).detach()) < 1e-24
    # slope 3: every gradient norm is 3, so the penalty is (3 − 1)² = 4 wherever x̂ lies
    steep = _Linear(3 * direction / direction.norm())
    torch.testing.assert_close(losses.gradient_penalty(steep, real, fake), torch.tensor(4.0, dtype=torch.float64))


def test_gradient_penalty_differentiates_into_the_critic_parameters():
    # d/dw (‖w‖ − 1)² = 2 (‖w‖ − 1) w / ‖w‖ for a linear critic, in float64.
    weight = torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64)
    critic = _Linear(weight.clone())
    penalty = losses.gradient_penalty(critic, torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64))
    penalty.backward()
    expected = 2 * (weight.norm() - 1) * weight / weight.norm()
    torch.testing.assert_close(critic.weight.grad, expected)


def test_gradient_penalty_of_images_uses_the_whole_event_norm():
    critic = _ImageSum()
    real, fake = torch.randn(4, 3, 2, 2, dtype=torch.float64), torch.randn(4, 3, 2, 2, dtype=torch.float64)
    # f(x) = Σ x: gradient of ones, norm √12 per row
    torch.testing.assert_close(
        losses.gradient_penalty(critic, real, fake), torch.tensor((math.sqrt(12) - 1) ** 2, dtype=torch.float64)
    )


class _ImageSum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(1, 2, 3))


def test_r1_penalty_is_the_squared_slope_of_a_linear_critic_and_differentiates():
    weight = torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64)
    critic = _Linear(weight.clone())
    penalty = losses.r1_penalty(critic, torch.randn(8, 3, dtype=torch.float64))
    torch.testing.assert_close(penalty.detach(), weight.square().sum())
    penalty.backward()
    torch.testing.assert_close(critic.weight.grad, 2 * weight)
