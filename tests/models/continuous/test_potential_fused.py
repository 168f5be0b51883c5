"""The fused two-layer ∇Φ, ΔΦ node against the operation-by-operation closed forms, in float64."""

from __future__ import annotations

import pytest
import torch

from pushforward.models.continuous.potential import Potential
from pushforward.models.continuous.potential_fused import TwoLayerPotentialDerivatives

F64 = torch.float64


def randomized(dimension: int, width: int, seed: int) -> Potential:
    torch.manual_seed(seed)
    potential = Potential(dimension, width, layers=2, rank=3).double()
    with torch.no_grad():  # away from the near-zero start, so every term of the formulas matters
        for parameter in potential.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return potential


@pytest.mark.parametrize("dimension", [1, 2, 3])
def test_fused_node_equals_the_separate_operations_in_value_and_every_gradient(dimension):
    # A shared (scalar) time takes the fused node; the same time given per point takes the
    # operation-by-operation code. Values and the gradients of a loss that mixes both outputs
    # non-linearly must agree for the points and every parameter.
    potential = randomized(dimension, 7, seed=dimension)
    parameters = [p for name, p in potential.named_parameters() if name != "c.bias"]
    x = torch.randn(9, dimension, dtype=F64, requires_grad=True)
    mix = torch.randn(9, dimension + 2, dtype=F64)

    def loss_and_gradients(time):
        gradient, trace = potential.gradient_and_laplacian(x, time)
        loss = (gradient.sin() * mix[:, : dimension + 1]).sum() + (trace.square() * mix[:, -1]).sum()
        return gradient, trace, torch.autograd.grad(loss, [x, *parameters])

    fused = loss_and_gradients(torch.tensor(0.3, dtype=F64))
    separate = loss_and_gradients(torch.full((9,), 0.3, dtype=F64))
    torch.testing.assert_close(fused[0], separate[0], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(fused[1], separate[1], rtol=1e-12, atol=1e-13)
    for a, b in zip(fused[2], separate[2]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        assert b.abs().sum() > 0


def test_fused_node_passes_gradcheck_in_every_input_including_time():
    # The time's gradient is not used by training, but the adjoint method may ask for it.
    potential = randomized(2, 5, seed=7)
    weights = potential.weights()
    residual = potential.residual[0]
    inputs = [
        torch.randn(4, 2, dtype=F64),
        torch.tensor(0.4, dtype=F64),
        weights.weight, potential.opening.bias, residual.weight, residual.bias, potential.w,
        weights.gram_x, weights.gram_t, weights.linear_bias, weights.opening_trace,
        weights.quadratic_trace, weights.mixed,
    ]
    inputs = [tensor.detach().clone().requires_grad_(True) for tensor in inputs]

    def node(*tensors):
        return TwoLayerPotentialDerivatives.apply(*tensors, potential.step)

    assert torch.autograd.gradcheck(node, inputs)


def test_fused_node_is_first_order_only():
    # Its backward is hand-written and not differentiable: asking for a second derivative must
    # fail loudly rather than return a silently wrong zero.
    potential = randomized(2, 5, seed=1)
    x = torch.randn(3, 2, dtype=F64, requires_grad=True)
    gradient, _ = potential.gradient_and_laplacian(x, torch.tensor(0.2, dtype=F64))
    (first,) = torch.autograd.grad(gradient.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(first.sum(), x)
