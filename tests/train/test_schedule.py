import math

import pytest

from pushforward.errors import UserError
from pushforward.train.config import Budget, TrainConfig
from pushforward.train.schedule import learning_rate_factor


def test_warmup_rises_linearly_then_cosine_decays_to_final():
    kwargs = dict(schedule="cosine", warmup=0.1, final=0.01)
    assert learning_rate_factor(0.05, **kwargs) == pytest.approx(0.5)
    assert learning_rate_factor(0.1, **kwargs) == pytest.approx(1.0)
    assert learning_rate_factor(0.55, **kwargs) == pytest.approx(0.01 + 0.99 * 0.5)
    assert learning_rate_factor(1.0, **kwargs) == pytest.approx(0.01)
    values = [learning_rate_factor(p / 100, **kwargs) for p in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_linear_and_constant_schedules():
    assert learning_rate_factor(0.5, schedule="linear", warmup=0.0, final=0.0) == pytest.approx(0.5)
    assert learning_rate_factor(0.9, schedule="constant", warmup=0.0, final=0.0) == 1.0


def test_budget_progress_is_the_larger_fraction():
    budget = Budget(seconds=10.0, steps=100)
    assert budget.progress(50, 2.0) == pytest.approx(0.5)
    assert budget.progress(10, 8.0) == pytest.approx(0.8)
    assert budget.progress(1000, 0.0) == 1.0


@pytest.mark.parametrize("kwargs", [dict(), dict(seconds=0.0), dict(steps=0), dict(seconds=-1.0)])
def test_invalid_budgets_are_user_errors(kwargs):
    with pytest.raises(UserError):
        Budget(**kwargs)


@pytest.mark.parametrize("field,value", [("lr", 0.0), ("batch_size", 0), ("warmup", 1.0), ("ema_decay", 1.0), ("grad_clip", -1.0)])
def test_invalid_train_settings_are_user_errors(field, value):
    with pytest.raises(UserError, match=field):
        TrainConfig(**{field: value})


def test_cosine_midpoint_matches_formula():
    assert learning_rate_factor(0.5, schedule="cosine", warmup=0.0, final=0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
