from dataclasses import dataclass
from typing import Literal

import pytest

from pushforward.errors import UserError
from pushforward.hparams import build, parse_assignments


@dataclass
class Example:
    layers: int = 4
    lr: float = 1e-3
    flag: bool = False
    kind: Literal["a", "b"] = "a"
    widths: tuple[int, ...] = (8, 8)
    limit: float | None = None


def test_strings_are_converted_by_field_type():
    value = build(Example, {"layers": "6", "lr": "3e-4", "flag": "true", "kind": "b", "widths": "16,32", "limit": "none"}, what="x")
    assert value == Example(6, 3e-4, True, "b", (16, 32), None)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"layer": "3"}, "unknown x setting 'layer'; did you mean 'layers'"),
        ({"layers": "3.5"}, "layers must be an integer"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"flag": "maybe"}, "flag must be true or false"),
        ({"kind": "c"}, "not a valid value for kind"),
    ],
)
def test_bad_values_are_user_errors(values, message):
    with pytest.raises(UserError, match=message):
        build(Example, values, what="x")


def test_parse_assignments():
    assert parse_assignments(["lr=1e-3", "layers = 4"]) == {"lr": "1e-3", "layers": "4"}
    with pytest.raises(UserError, match="key=value"):
        parse_assignments(["lr"])
