"""OT-Flow's closed-form gradient and Laplacian against autograd in float64."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.models.continuous.potential import Potential, log_cosh

F64 = torch.float64


def randomized(dimension, width, layers, rank, seed):
    torch.manual_seed(seed)
    potential = Potential(dimension, width, layers, rank).double()
    with torch.no_grad():  # move away from the near-zero start so every term matters
        for parameter in potential.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return potential


@pytest.mark.parametrize("dimension,width,layers,rank", [(1, 5, 2, 1), (2, 8, 3, 10), (4, 6, 5, 3)])
@pytest.mark.parametrize("per_sample_time", [False, True])
def test_closed_form_gradient_and_laplacian_match_autograd(dimension, width, layers, rank, per_sample_time):
    potential = randomized(dimension, width, layers, rank, seed=dimension + layers)
    x = torch.randn(6, dimension, dtype=F64, requires_grad=True)
    t = torch.rand(6, dtype=F64, requires_grad=True) if per_sample_time else torch.tensor(0.4, dtype=F64, requires_grad=True)
    phi = potential(x, t)
    grad_x, grad_t = torch.autograd.grad(phi.sum(), (x, t), create_graph=True)
    laplacian = sum(torch.autograd.grad(grad_x[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(dimension))
    gradient, trace = potential.gradient_and_laplacian(x, t)
    torch.testing.assert_close(gradient[:, :dimension], grad_x, rtol=1e-10, atol=1e-12)
    if per_sample_time:
        torch.testing.assert_close(gradient[:, dimension], grad_t, rtol=1e-10, atol=1e-12)
    else:  # a shared time: autograd sums ∂Φ/∂t over the batch
        torch.testing.assert_close(gradient[:, dimension].sum(), grad_t, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(trace, laplacian, rtol=1e-10, atol=1e-12)


def test_gradient_without_laplacian_is_the_same_gradient():
    potential = randomized(3, 7, 3, 2, seed=0)
    x = torch.randn(4, 3, dtype=F64)
    full, _ = potential.gradient_and_laplacian(x, 0.5)
    alone, none = potential.gradient_and_laplacian(x, 0.5, laplacian=False)
    assert none is None
    torch.testing.assert_close(alone, full)



@pytest.mark.parametrize("layers", [2, 4])
def test_weights_shared_by_several_evaluations_give_the_same_values_and_parameter_gradients(layers):
    # A solve forms the weight-only tensors once and uses them at every evaluation: the values
    # and, through them, the parameters' gradients must equal forming them per evaluation.
    def loss_and_gradients(share: bool):
        potential = randomized(2, 6, layers, 3, seed=layers)
        weights = potential.weights() if share else None
        total = torch.zeros((), dtype=F64)
        for x, t in [(torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(i)), 0.2 * i) for i in range(3)]:
            gradient, trace = potential.gradient_and_laplacian(x, t, weights=weights)
            total = total + gradient.square().sum() + trace.sin().sum()
        # Φ's constant b (c's bias) leaves ∇Φ and ΔΦ alone; every other parameter takes part.
        parameters = [p for name, p in potential.named_parameters() if name != "c.bias"]
        return total, torch.autograd.grad(total, parameters)

    shared, shared_gradients = loss_and_gradients(share=True)
    separate, separate_gradients = loss_and_gradients(share=False)
    torch.testing.assert_close(shared, separate, rtol=1e-12, atol=0)
    for a, b in zip(shared_gradients, separate_gradients):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        assert b.abs().sum() > 0



@pytest.mark.parametrize("layers", [2, 3])
def test_parameter_gradients_through_the_closed_forms_match_autograd(layers):
    # Training backpropagates through ∇Φ and ΔΦ: their parameter gradients must be those of
    # autograd's own derivatives of Φ (a detached or mis-sliced weight would change them).
    potential = randomized(2, 6, layers, 3, seed=10 + layers)
    parameters = [p for name, p in potential.named_parameters() if name != "c.bias"]
    x = torch.randn(7, 2, dtype=F64, requires_grad=True)
    t = torch.tensor(0.3, dtype=F64)

    gradient, trace = potential.gradient_and_laplacian(x.detach(), t)
    closed_form = torch.autograd.grad(gradient.square().sum() + trace.sin().sum(), parameters)

    s = torch.cat([x, t.expand(7, 1)], dim=1)
    grad_s = torch.autograd.grad(potential(s[:, :2], s[:, 2]).sum(), s, create_graph=True)[0]
    laplacian = sum(torch.autograd.grad(grad_s[:, i].sum(), s, create_graph=True)[0][:, i] for i in range(2))
    reference = torch.autograd.grad(grad_s.square().sum() + laplacian.sin().sum(), parameters)
    for a, b in zip(closed_form, reference):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_log_cosh_is_stable_and_correct():
    a = torch.tensor([-1000.0, -3.0, 0.0, 0.5, 1000.0], dtype=F64)
    expected = torch.tensor([1000 - math.log(2), math.log(math.cosh(3.0)), 0.0, math.log(math.cosh(0.5)), 1000 - math.log(2)], dtype=F64)
    torch.testing.assert_close(log_cosh(a), expected)


def test_a_fresh_potential_starts_near_the_identity_flow():
    gradient, _ = Potential(2, 32, 2, 10).gradient_and_laplacian(torch.randn(100, 2), 0.5)
    assert gradient[:, :2].abs().max() < 0.2


@pytest.mark.parametrize("layers", [2, 3])
def test_parameter_gradients_of_the_closed_forms_match_autograd(layers):
    # Training backpropagates through the closed forms (and _LogCosh's hand-written backward):
    # their derivatives in the weights must be those of autograd's gradient and Laplacian.
    potential = randomized(2, 5, layers, 2, seed=layers)
    x = torch.randn(7, 2, dtype=F64, requires_grad=True)
    t = torch.tensor(0.3, dtype=F64)
    weights = torch.randn(7, 3, dtype=F64)

    def reference():
        phi = potential(x, t.clone().requires_grad_(True))
        grad_x = torch.autograd.grad(phi.sum(), x, create_graph=True)[0]
        laplacian = sum(torch.autograd.grad(grad_x[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2))
        return (grad_x * weights[:, :2]).sum() + (laplacian * weights[:, 2]).sum()

    def closed_form():
        gradient, laplacian = potential.gradient_and_laplacian(x, t)
        return (gradient[:, :2] * weights[:, :2]).sum() + (laplacian * weights[:, 2]).sum()

    parameters = [x, *potential.parameters()]
    expected = torch.autograd.grad(reference(), parameters, allow_unused=True)
    actual = torch.autograd.grad(closed_form(), parameters, allow_unused=True)
    for parameter, e, a in zip(parameters, expected, actual):
        zero = torch.zeros_like(parameter)  # unused (Φ's constant b): no gradient either way
        torch.testing.assert_close(zero if a is None else a, zero if e is None else e, rtol=1e-9, atol=1e-11)


def test_log_cosh_function_has_log_cosh_derivatives_up_to_second_order():
    from pushforward.models.continuous.potential import _LogCosh

    a = torch.randn(20, dtype=F64, requires_grad=True)
    u = _LogCosh.apply(a, torch.tanh(a))
    (first,) = torch.autograd.grad(u.sum(), a, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), a)
    torch.testing.assert_close(u, log_cosh(a))
    torch.testing.assert_close(first, torch.tanh(a))
    torch.testing.assert_close(second, 1 - torch.tanh(a).square())


def test_tanh_function_matches_tanh_and_its_derivatives():
    from pushforward.models.continuous.potential import _Tanh

    a = torch.cat([torch.randn(20, dtype=F64), torch.tensor([-40.0, 0.0, 40.0], dtype=F64)]).requires_grad_(True)
    slope = _Tanh.apply(a)
    (first,) = torch.autograd.grad(slope.sum(), a, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), a)
    expected = torch.tanh(a)
    torch.testing.assert_close(slope, expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(first, 1 - expected.square(), rtol=0, atol=1e-14)
    torch.testing.assert_close(second, -2 * expected * (1 - expected.square()), rtol=0, atol=1e-14)
