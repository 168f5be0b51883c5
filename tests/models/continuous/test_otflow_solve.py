"""OT-Flow's fused training solve against the same RK4 solve through autograd, in float64."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.base import create
from pushforward.models.continuous.otflow_solve import OTFlowRK4Solve
from pushforward.models.continuous.potential import Potential
from pushforward.models.continuous.solvers import ODESolver, odeint

F64 = torch.float64


def randomized(seed: int) -> Potential:
    torch.manual_seed(seed)
    potential = Potential(2, 6, layers=2, rank=3).double()
    with torch.no_grad():  # away from the near-zero start, so every term matters
        for parameter in potential.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return potential


def reference_solve(potential: Potential, x, t_start, t_end, solver):
    """The cost dynamics written with the operation-by-operation closed forms (a per-point
    time selects them) and solved by the general odeint: autograd differentiates it."""
    n, d = x.shape

    def dynamics(t, state):
        gradient, laplacian = potential.gradient_and_laplacian(state[:, :d], t.expand(n))
        speed = 0.5 * gradient[:, :d].square().sum(dim=1, keepdim=True)
        hjb = (gradient[:, d:] - speed).abs()
        return torch.cat([gradient[:, :d].neg(), laplacian.unsqueeze(1), speed, hjb], dim=1)

    y0 = torch.cat([x, x.new_zeros(n, 3)], dim=1)
    return odeint(dynamics, y0, [t_start, t_end], solver).final


@pytest.mark.parametrize("t_start,t_end,steps,grid_power", [(1.0, 0.0, 3, 1.0), (0.0, 1.0, 2, 1.0), (1.0, 0.0, 3, 2.0)])
def test_fused_solve_equals_the_autograd_solve_in_value_and_every_gradient(t_start, t_end, steps, grid_power):
    potential = randomized(seed=steps)
    parameters = [p for name, p in potential.named_parameters() if name != "c.bias"]
    x = torch.randn(7, 2, dtype=F64, requires_grad=True)
    mix = torch.randn(7, 5, dtype=F64)
    solver = ODESolver("rk4", steps=steps, grid_power=grid_power)

    def loss_and_gradients(final):
        loss = (final.sin() * mix).sum()  # every component, non-linearly
        return final, torch.autograd.grad(loss, [x, *parameters])

    fused = loss_and_gradients(
        OTFlowRK4Solve.apply(x, t_start, t_end, steps, grid_power, potential.step, *potential.two_layer_weights())
    )
    reference = loss_and_gradients(reference_solve(potential, x, t_start, t_end, solver))
    torch.testing.assert_close(fused[0], reference[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(fused[1], reference[1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        assert b.abs().sum() > 0


def test_otflow_training_objective_takes_the_fused_solve_with_the_general_solve_values():
    # With gradients on, the objective takes the fused solve; without, the general one: the
    # loss and its parts must be the same either way.
    torch.manual_seed(0)
    model = create("otflow", (2,), hidden_features=8).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(16, 2, dtype=F64)
    fused = model.objective(x, "model")
    with torch.no_grad():
        general = model.objective(x, "model")
    for key in ("loss", "nll", "transport", "hjb", "nfe"):
        torch.testing.assert_close(fused[key].detach(), general[key], rtol=1e-12, atol=1e-12)
    assert "OTFlowRK4SolveBackward" in graph_node_names(fused["loss"])


def graph_node_names(tensor) -> set[str]:
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_fused_solve_hands_autograd_normal_tensors_that_training_can_update_in_place():
    # The solve runs in inference mode inside its node. Its output, the points' gradient and the
    # weights' gradients must still be normal tensors: autograd attaches to the output, a second
    # backward adds into .grad, and gradient clipping scales .grad in place.
    potential = randomized(seed=5)
    x = torch.randn(6, 2, dtype=F64, requires_grad=True)
    for _ in range(2):
        final = OTFlowRK4Solve.apply(x, 1.0, 0.0, 2, 1.0, potential.step, *potential.two_layer_weights())
        assert not final.is_inference() and final.grad_fn is not None
        final.square().sum().backward()
    assert not x.grad.is_inference()
    for parameter in potential.parameters():
        assert parameter.grad is None or not parameter.grad.is_inference()
    torch.nn.utils.clip_grad_norm_(potential.parameters(), 1e-3)
    total = torch.sqrt(sum(p.grad.square().sum() for p in potential.parameters() if p.grad is not None))
    assert float(total) == pytest.approx(1e-3, rel=1e-6)
