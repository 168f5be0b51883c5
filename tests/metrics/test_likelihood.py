import math

import pytest
import torch

from pushforward.metrics import nll_summary


def test_nll_in_nats_and_bits_per_dimension_with_its_standard_error():
    log_prob = torch.tensor([-1.0, -2.0, -3.0, -6.0])
    summary = nll_summary(log_prob, dimension=2, kind="exact")
    assert summary.nll == pytest.approx(3.0)
    assert summary.nll_se == pytest.approx(float(torch.tensor([1.0, 2, 3, 6]).std()) / 2)
    assert summary.bits_per_dim == pytest.approx(3.0 / (2 * math.log(2)))
    assert summary.bits_per_dim_se == pytest.approx(summary.nll_se / (2 * math.log(2)))
    assert (summary.label, summary.points, summary.nonfinite) == ("exact", 4, 0)


def test_labels_say_what_kind_of_number_it_is():
    log_prob = torch.zeros(3)
    assert nll_summary(log_prob, 1, "estimate").label == "estimate"
    assert nll_summary(log_prob, 1, "bound").label == "upper bound"
    with pytest.raises(ValueError):
        nll_summary(log_prob, 1, "none")


def test_non_finite_log_densities_are_counted_and_leave_no_standard_error():
    summary = nll_summary(torch.tensor([-1.0, -math.inf]), 1, "exact")
    assert summary.nll == math.inf and math.isnan(summary.nll_se) and summary.nonfinite == 1
