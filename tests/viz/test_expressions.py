"""Safe formulas: what they may say, what they compute, and every way they are refused."""

from __future__ import annotations

import math
import time

import pytest
import torch

from pushforward.errors import UserError
from pushforward.viz import parse_expression

Z = torch.tensor([[0.5, -1.0], [2.0, 0.25], [-1.5, 3.0], [0.0, 1.0]])
Z1, Z2 = Z[:, 0], Z[:, 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2*z + 1", 2 * Z + 1),
        ("exp(z)", torch.exp(Z)),
        ("(z1, z2 + z1**2)", torch.stack([Z1, Z2 + Z1**2], 1)),
        ("[x, -y / 2]", torch.stack([Z1, -Z2 / 2], 1)),
        ("(z[:, 1], z[..., 0])", torch.stack([Z2, Z1], 1)),
        ("(z[:, -1], 3)", torch.stack([Z2, torch.full_like(Z1, 3.0)], 1)),
        ("z1 * z", Z1[:, None] * Z),
        ("3", torch.full_like(Z, 3.0)),
        ("sigmoid(z) * pi - e", torch.sigmoid(Z) * math.pi - math.e),
        ("clamp(z, -1, 1)", Z.clamp(-1, 1)),
        ("clamp(z, min=0)", Z.clamp(min=0)),
        ("(minimum(z1, z2), maximum(z1, 0.5))", torch.stack([torch.minimum(Z1, Z2), Z1.clamp(min=0.5)], 1)),
        ("(atan(z1), arctan(z2))", torch.atan(Z)),
        ("(z1 * cos(z2), z1 * sin(z2))", torch.stack([Z1 * torch.cos(Z2), Z1 * torch.sin(Z2)], 1)),
        ("softplus(relu(-z)) + abs(sign(z)) * tanh(z)", torch.nn.functional.softplus(torch.relu(-Z)) + Z.sign().abs() * Z.tanh()),
    ],
)
def test_valid_expressions_evaluate_correctly(text: str, expected: torch.Tensor) -> None:
    f = parse_expression(text)
    torch.testing.assert_close(f(Z), expected)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("__import__('os')", "__import__"),
        ("__import__('os').system('echo hi')", "system"),
        ("z.__class__", "z.__class__"),
        ("z.sum()", "z.sum"),
        ("().__class__.__bases__", "__bases__"),
        ("lambda: 1", "lambda"),
        ("foo(z)", "foo"),
        ("w + 1", "w"),
        ("exp", "exp"),
        ("'abc'", "abc"),
        ("z + 'abc'", "abc"),
        ("open('/etc/passwd')", "open"),
        ("[t for t in z]", "ListComp"),
        ("z if z1 else z2", "if-expression"),
        ("z1 < z2", "comparison"),
        ("z[0]", "z[0]"),
        ("z[:, 2]", "z[:, 2]"),
        ("exp(z, z)", "exp"),
        ("clamp(z, low=0)", "low"),
        ("exp(*z)", "*"),
        ("(z1, z2, z1)", "3 entries"),
        ("((z1, z2), z1)", "pair"),
        ("2*z +", "not a valid formula"),
        ("", "empty"),
        ("True + z", "bool"),
        ("z1", "one number per sample"),
        ("z1 + z2", "one number per sample"),
        ("(z, z1)", "two numbers per sample"),
    ],
)
def test_anything_else_is_a_one_line_user_error_with_an_example(text: str, named: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_expression(text)
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert "e.g." in message  # every message shows a valid formula


def test_non_text_and_absurd_input_are_user_errors() -> None:
    with pytest.raises(UserError):
        parse_expression(42)  # type: ignore[arg-type]
    with pytest.raises(UserError):
        parse_expression("z" + "+z" * 5000)
    with pytest.raises(UserError):
        parse_expression("(" * 500 + "z" + ")" * 500)


def test_huge_powers_overflow_instead_of_hanging() -> None:
    start = time.perf_counter()
    f = parse_expression("9**9**9**9 + 0*z")
    assert torch.isinf(f(Z)).all()
    assert time.perf_counter() - start < 1.0


def test_an_expression_must_be_given_two_columns() -> None:
    f = parse_expression("2*z")
    with pytest.raises(UserError, match=r"\(n, 2\)"):
        f(torch.zeros(3, 3))
