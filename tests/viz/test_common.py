"""Shared figure plumbing: axis labels from the data's column names."""

from __future__ import annotations

import numpy as np
import pytest

from pushforward.viz._common import axis_labels


def test_column_names_become_axis_labels() -> None:
    assert axis_labels(["height", "weight"]) == ["height", "weight"]
    assert axis_labels(["income"], 1) == ["income"]
    assert axis_labels(["a", "b", "c"]) == ["a", "b"]  # the first two of wider data


def test_without_names_the_axes_are_numbered_coordinates() -> None:
    assert axis_labels(None) == ["$x_{1}$", "$x_{2}$"]
    assert axis_labels(["x1", "x2"]) == ["$x_{1}$", "$x_{2}$"]  # the names toys and .npy files get
    assert axis_labels(["only one"]) == ["$x_{1}$", "$x_{2}$"]  # not half named, half numbered


def test_a_dollar_in_a_name_is_not_read_as_mathematics() -> None:
    assert axis_labels(["cost $", "price ($)"]) == [r"cost \$", r"price (\$)"]


def test_robust_bounds_of_1d_points_put_them_on_a_zero_second_axis():
    from pushforward.viz._common import robust_bounds

    xmin, xmax, ymin, ymax = robust_bounds(np.linspace(0.0, 10.0, 1001)[:, None], margin=0.0)
    assert (xmin, xmax) == pytest.approx((0.05, 9.95))
    assert (ymin, ymax) == (-1.0, 1.0)  # no spread: a unit half-width around 0
