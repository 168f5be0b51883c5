"""The solver entry point: convergence orders, round trips, closed-form densities, NFE, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pushforward.errors import NumericalError, UserError
from pushforward.models.continuous.fields import MLPField
from pushforward.models.continuous.solvers import (
    ODESolver,
    fixed_step_nodes,
    integrate,
    integrate_with_log_density,
    odeint,
    standard_normal_log_prob,
)

F64 = torch.float64


def cos_growth(t, y):
    """y' = cos(t) y, solved by y(t) = y(0) exp(sin t)."""
    return torch.cos(t) * y


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_fixed_step_methods_converge_at_their_order(method, order):
    y0 = torch.tensor([1.0, -0.5], dtype=F64)
    exact = y0 * math.exp(math.sin(2.0))
    errors = []
    steps = [8, 16, 32, 64]
    for n in steps:
        solution = odeint(cos_growth, y0, [0.0, 2.0], ODESolver(method, steps=n))
        errors.append(float((solution.final - exact).abs().max()))
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.25, (errors, slope)


def test_nfe_counts_every_evaluation():
    calls = []

    def counted(t, y):
        calls.append(1)
        return -y

    y0 = torch.ones(3, dtype=F64)
    for method, per_step in (("euler", 1), ("midpoint", 2), ("rk4", 4)):
        calls.clear()
        solution = odeint(counted, y0, [0.0, 1.0], ODESolver(method, steps=8))
        assert solution.nfe == len(calls) == 8 * per_step
    calls.clear()
    solution = odeint(counted, y0, [0.0, 1.0], ODESolver("dopri5", rtol=1e-8, atol=1e-8))
    assert solution.nfe == len(calls) > 6
    torch.testing.assert_close(solution.final, y0 * math.exp(-1), rtol=1e-7, atol=0)


def test_intermediate_times_and_tuple_states():
    y0 = (torch.tensor([1.0], dtype=F64), torch.tensor([2.0], dtype=F64))
    times = torch.linspace(0, 1, 5, dtype=F64)
    for solver in (ODESolver("rk4", steps=64), ODESolver("dopri5", rtol=1e-9, atol=1e-9)):
        solution = odeint(lambda t, y: (y[0], -y[1]), y0, times, solver)
        first, second = solution.states
        assert first.shape == (5, 1) and second.shape == (5, 1)
        torch.testing.assert_close(first[:, 0], torch.exp(times), rtol=1e-6, atol=0)
        torch.testing.assert_close(second[:, 0], 2 * torch.exp(-times), rtol=1e-6, atol=0)


@pytest.mark.parametrize("solver", [ODESolver("rk4", steps=40), ODESolver("dopri5", rtol=1e-8, atol=1e-8)])
def test_forward_then_backward_returns_the_input(solver):
    torch.manual_seed(0)
    field = MLPField((2,), hidden_features=16, hidden_layers=2, frequencies=1).double()
    z = torch.randn(64, 2, dtype=F64)
    with torch.no_grad():
        x = integrate(field, z, [0.0, 1.0], solver).final
        back = integrate(field, x, [1.0, 0.0], solver).final
    assert (x - z).abs().max() > 0.01  # the field really moved the points
    torch.testing.assert_close(back, z, rtol=0, atol=1e-6)


class LinearField(torch.nn.Module):
    """f(t, x) = A x: the flow from t = 0 to 1 is x = exp(A) z, so x ~ N(0, exp(A) exp(A)ᵀ)."""

    def __init__(self, matrix):
        super().__init__()
        self.matrix = torch.nn.Parameter(matrix)

    def forward(self, t, x):
        return x @ self.matrix.T


@pytest.mark.parametrize("divergence", ["exact", "hutchinson"])
@pytest.mark.parametrize("solver", [ODESolver("rk4", steps=32), ODESolver("dopri5", rtol=1e-9, atol=1e-9)])
def test_linear_field_pushes_a_gaussian_to_its_closed_form_density(divergence, solver):
    matrix = torch.tensor([[0.3, -0.8], [0.5, -0.2]], dtype=F64)
    field = LinearField(matrix)
    map_ = torch.linalg.matrix_exp(matrix)
    truth = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=F64), covariance_matrix=map_ @ map_.T)
    x = truth.sample((200,))
    with torch.no_grad():
        result = integrate_with_log_density(field, x, 1.0, 0.0, solver, divergence=divergence)
    torch.testing.assert_close(result.y, x @ torch.linalg.inv(map_).T, rtol=0, atol=1e-8)
    # div f = tr A everywhere, so the Hutchinson estimate with a Rademacher probe is exact on
    # the diagonal part and zero-mean off it; the log-density matches on average and exactly.
    log_p = standard_normal_log_prob(result.y) - result.delta_log_p
    if divergence == "exact":
        torch.testing.assert_close(log_p, truth.log_prob(x), rtol=0, atol=1e-8)
        torch.testing.assert_close(result.delta_log_p, torch.full((200,), float(torch.trace(matrix)), dtype=F64))
    else:
        error = log_p - truth.log_prob(x)
        assert abs(float(error.mean())) < 4 * float(error.std()) / math.sqrt(200) + 1e-12


def test_density_of_a_random_field_integrates_to_one():
    torch.manual_seed(3)
    field = MLPField((2,), hidden_features=16, hidden_layers=2, frequencies=1).double()
    side = torch.linspace(-7, 7, 141, dtype=F64)
    grid = torch.cartesian_prod(side, side)
    with torch.no_grad():
        result = integrate_with_log_density(field, grid, 1.0, 0.0, ODESolver("dopri5", rtol=1e-7, atol=1e-7))
    density = torch.exp(standard_normal_log_prob(result.y) - result.delta_log_p)
    cell = float(side[1] - side[0]) ** 2
    assert float(density.sum()) * cell == pytest.approx(1.0, abs=2e-3)


def test_rnode_integrals_match_their_definitions_for_a_linear_field():
    matrix = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)  # a rotation: ‖f‖ = ‖x‖ is constant
    x = torch.randn(10, 2, dtype=F64)
    with torch.no_grad():
        result = integrate_with_log_density(LinearField(matrix), x, 1.0, 0.0, ODESolver("rk4", steps=64), regularize=True)
    torch.testing.assert_close(result.kinetic, x.pow(2).sum(1), rtol=1e-7, atol=0)
    torch.testing.assert_close(result.jacobian, torch.full((10,), 2.0, dtype=F64))


def test_adjoint_gradients_match_direct_backpropagation():
    torch.manual_seed(4)
    field = MLPField((2,), hidden_features=8, hidden_layers=1).double()
    x = torch.randn(16, 2, dtype=F64)
    gradients = []
    for adjoint in (False, True):
        field.zero_grad()
        result = integrate_with_log_density(field, x, 1.0, 0.0, ODESolver("dopri5", rtol=1e-9, atol=1e-9, adjoint=adjoint))
        (standard_normal_log_prob(result.y) - result.delta_log_p).mean().backward()
        gradients.append(torch.cat([p.grad.reshape(-1) for p in field.parameters()]))
    torch.testing.assert_close(gradients[1], gradients[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"method": "foo"}, "unknown ODE solver 'foo'"),
        ({"method": "dopr5"}, "did you mean 'dopri5'"),
        ({"rtol": 0.0}, "rtol must lie in (0, 1)"),
        ({"atol": -1e-5}, "atol must lie in (0, 1)"),
        ({"rtol": float("nan")}, "rtol must lie in (0, 1)"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"max_steps": 0}, "max_steps must be an integer >= 1"),
        ({"method": "rk4", "adjoint": True}, "adjoint method needs an adaptive solver"),
        ({"grid_power": 0.0}, "grid_power must be a positive number"),
        ({"grid_power": float("inf")}, "grid_power must be a positive number"),
    ],
)
def test_bad_solver_settings_are_user_errors(settings, message):
    with pytest.raises(UserError) as caught:
        ODESolver(**settings)
    assert message in caught.value.one_line()


def test_a_blow_up_stops_with_a_numerical_error_naming_the_fix():
    # y' = y², y(0) = 1 blows up at t = 1: the adaptive step shrinks until it underflows.
    y0 = torch.ones(1, dtype=F64)
    with pytest.raises(NumericalError) as caught:
        odeint(lambda t, y: y * y, y0, [0.0, 2.0], ODESolver("dopri5"))
    assert "too stiff" in str(caught.value) and "rtol" in str(caught.value)
    with pytest.raises(NumericalError, match="more than 20 steps"):
        odeint(lambda t, y: torch.cos(40 * t) * y, y0, [0.0, 10.0], ODESolver("dopri5", rtol=1e-9, atol=1e-9, max_steps=20))


def test_a_nan_field_stops_with_a_numerical_error_naming_nan():
    y0 = torch.ones(2, dtype=F64)
    with pytest.raises(NumericalError, match="produced NaN"):
        odeint(lambda t, y: y * float("nan") if t > 0.5 else -y, y0, [0.0, 1.0], ODESolver("dopri5"))


@pytest.mark.parametrize("power", [1.0, 1.5, 3.0])
def test_fixed_step_nodes_span_the_interval_and_shrink_towards_its_end(power):
    nodes = fixed_step_nodes(0.0, 2.0, 6, power)
    assert nodes[0] == 0.0 and nodes[-1] == 2.0 and len(nodes) == 7
    steps = np.diff(nodes)
    assert (steps > 0).all()
    if power == 1.0:
        np.testing.assert_allclose(steps, 2.0 / 6)
    else:
        assert (np.diff(steps) < 0).all()
    backwards = fixed_step_nodes(2.0, 0.0, 6, power)
    assert (np.diff(backwards) < 0).all() and backwards[-1] == 0.0


def test_rk4_on_a_graded_grid_keeps_its_order_and_beats_equal_steps_on_a_late_transient():
    # y' = k(t) y with the rate concentrated near t = 1, as a flow-matching field near the data.
    def late(t, y):
        return 40.0 * torch.exp(-40.0 * (1 - t)) * y

    y0 = torch.tensor([1.0], dtype=F64)
    exact = float(y0 * math.exp(1 - math.exp(-40.0)))
    def error(steps, power):
        return abs(float(odeint(late, y0, [0.0, 1.0], ODESolver("rk4", steps=steps, grid_power=power)).final) - exact)

    steps = [16, 32, 64, 128]
    errors = [error(n, 2.0) for n in steps]
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - 4) < 0.3, (errors, slope)
    assert error(8, 2.0) < error(8, 1.0) / 10
