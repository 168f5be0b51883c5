"""The trainer: budgets, the best weights, divergence, interruption and exact resumption."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch

from pushforward.errors import NumericalError, TrainingDiverged
from pushforward.models.base import create
from pushforward.train.config import Budget, TrainConfig
from pushforward.train.trainer import Trainer


def gaussian_data(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=generator) * torch.tensor([0.5, 2.0, 1.0]) + torch.tensor([1.0, -2.0, 0.0])


def make_trainer(steps=300, seed=0, score_name=None, score_shift=0.0, **config) -> Trainer:
    torch.manual_seed(seed)
    model = create("test-gaussian", (3,))
    data = gaussian_data(4000)
    settings = TrainConfig(**{"lr": 0.05, "batch_size": 256, "validations": 10, **config})
    return Trainer(model, data[:3000], data[3000:], settings, Budget(steps=steps), seed=seed, score_name=score_name, score_shift=score_shift)


def test_maximum_likelihood_reaches_the_sample_moments():
    trainer = make_trainer(steps=600)
    result = trainer.run()
    trainer.restore_best()
    data = gaussian_data(4000)[:3000]
    assert result.status == "completed" and result.steps == 600
    torch.testing.assert_close(trainer.model.mean.detach(), data.mean(0), atol=0.05, rtol=0)
    torch.testing.assert_close(trainer.model.log_scale.exp().detach(), data.std(0), atol=0.05, rtol=0.02)
    assert len(result.history) == 10
    assert {"step", "time", "lr", "loss", "val_nll"} <= set(result.history[-1])


def test_best_weights_are_those_with_the_lowest_validation_score():
    trainer = make_trainer(steps=200)
    result = trainer.run()
    trainer.restore_best()
    score = trainer.model.validation_score(trainer.validation_data)
    assert score == pytest.approx(result.best_score, abs=1e-6)
    assert result.best_score == pytest.approx(min(row["val_nll"] for row in result.history), abs=1e-9)


def test_after_step_receives_each_steps_learning_rate_factor():
    trainer = make_trainer(steps=100, warmup=0.1, schedule="linear")
    optimizer, model = trainer.optimizers["model"], trainer.model
    factors: list[float] = []
    rates: list[float] = []
    take_step, after_step = optimizer.step, model.after_step

    def step() -> None:
        rates.append(optimizer.param_groups[0]["lr"])
        take_step()

    def after(group: str, factor: float = 1.0) -> None:
        factors.append(factor)
        after_step(group, factor)

    optimizer.step, model.after_step = step, after  # type: ignore[method-assign]
    trainer.run()
    # The factor is the rate the step was taken at over the base rate: rising over the warm-up.
    assert len(factors) == 100
    assert factors == pytest.approx([rate / 0.05 for rate in rates], rel=1e-12)
    assert factors[0] < factors[5] < factors[9] and max(factors) == pytest.approx(1.0, abs=0.02)


def test_time_budget_stops_training():
    torch.manual_seed(0)
    model = create("test-gaussian", (3,))
    data = gaussian_data(2000)
    trainer = Trainer(model, data, data, TrainConfig(validations=5), Budget(seconds=0.5))
    result = trainer.run()
    assert 0.5 <= result.seconds < 1.5
    assert result.steps > 10


def test_resuming_from_a_checkpoint_continues_exactly():
    straight = make_trainer(steps=120)
    straight.run()

    first = make_trainer(steps=120)
    first.model.objective = SignalAt(first.model, call=60)
    interrupted = first.run()
    assert interrupted.status == "interrupted" and interrupted.steps == 60
    tensors, meta = first.checkpoint()
    best = first.best_state
    second = make_trainer(steps=120)
    second.restore(tensors, meta, best_state=best)
    second.run()
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[name], value, rtol=1e-6, atol=1e-7)


def interrupted_trainer(steps: int = 120, at: int = 60, **options) -> Trainer:
    """A trainer stopped by SIGTERM after ``at`` of its ``steps``: mid-epoch (11 batches of 256
    make an epoch of the 3,000 training points), with its checkpoint to take."""
    trainer = make_trainer(steps=steps, **options)
    trainer.model.objective = SignalAt(trainer.model, call=at)
    assert trainer.run().steps == at
    return trainer


def test_a_checkpoint_does_not_grow_with_the_training_points():
    def checkpoint_bytes(n: int) -> int:
        torch.manual_seed(0)
        model = create("test-gaussian", (3,))
        data = gaussian_data(n + 500)
        trainer = Trainer(model, data[:n], data[n:], TrainConfig(batch_size=256, validations=2), Budget(steps=5))
        trainer.run()
        tensors, _ = trainer.checkpoint()
        return sum(t.numel() * t.element_size() for t in tensors.values())

    # The batch order of a million points once took 8 MB of a 9.6 MB realnvp checkpoint; the
    # generator's state that draws it again takes 5 kB (beside its current state, another 5 kB),
    # whatever the number of points.
    small, large = checkpoint_bytes(3_000), checkpoint_bytes(300_000)
    assert small == large < 12_000


def test_resuming_from_a_checkpoint_that_stored_the_batch_order_continues_exactly():
    straight = make_trainer(steps=120)
    straight.run()
    first = interrupted_trainer()
    tensors, meta = first.checkpoint()
    # As checkpoints were written before they kept the order's generator state instead.
    del tensors["batch_order_rng"], meta["batch_order_size"], meta["batch_order_fingerprint"]
    tensors["batch_order"] = first._order.clone()
    second = make_trainer(steps=120)
    second.restore(tensors, meta, best_state=first.best_state)
    # Interrupted again before that epoch ends, its checkpoint still holds the order, as int32.
    second.model.objective = SignalAt(second.model, call=3)
    assert second.run().steps == 63
    tensors, meta = second.checkpoint()
    assert tensors["batch_order"].dtype == torch.int32 and "batch_order_rng" not in tensors
    third = make_trainer(steps=120)
    third.restore(tensors, meta, best_state=second.best_state)
    third.run()
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(third.model.state_dict()[name], value, rtol=1e-6, atol=1e-7)


def test_a_batch_order_drawn_otherwise_on_resume_starts_a_new_epoch():
    first = interrupted_trainer()
    tensors, meta = first.checkpoint()
    second = make_trainer(steps=120)
    second.restore(tensors, meta, best_state=first.best_state)
    torch.testing.assert_close(second._order, first._order, rtol=0, atol=0)
    # Another torch's permutation from the same state would not match the fingerprint: rather
    # than finish the epoch in another order (points seen twice), the next batch begins anew.
    meta = {**meta, "batch_order_fingerprint": "0" * 32}
    third = make_trainer(steps=120)
    third.restore(tensors, meta, best_state=first.best_state)
    assert third._order is None
    third._next_batch()
    assert third._cursor == 256 and third._order.sort().values.tolist() == list(range(3000))


class SignalAt:
    """Wraps a model's objective to send this process SIGTERM on a given call (a user's kill)."""

    def __init__(self, model, call):
        self.original, self.call, self.calls = model.objective, call, 0

    def __call__(self, x, group):
        self.calls += 1
        if self.calls == self.call:
            os.kill(os.getpid(), signal.SIGTERM)
        return self.original(x, group)


class ExplodesAfter:
    """Wraps a model's objective to return NaN from a given step on."""

    def __init__(self, model, step):
        self.model, self.step, self.calls = model, step, 0
        self.original = model.objective

    def __call__(self, x, group):
        self.calls += 1
        outputs = self.original(x, group)
        if self.calls > self.step:
            outputs["loss"] = outputs["loss"] * float("nan")
        return outputs


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_weights():
    trainer = make_trainer(steps=500)
    trainer.model.objective = ExplodesAfter(trainer.model, 100)
    with pytest.raises(TrainingDiverged, match="diverged at step 100.*lower the learning rate"):
        trainer.run()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.best_step <= 100
    # The model now holds the kept weights, whose score is the best one seen.
    assert trainer.model.validation_score(trainer.validation_data) == pytest.approx(trainer.best_score, abs=1e-6)


def test_a_diverged_run_that_keeps_its_latest_weights_names_them():
    trainer = make_trainer(steps=500, keep_best=False)
    trainer.model.objective = ExplodesAfter(trainer.model, 130)
    with pytest.raises(TrainingDiverged) as error:
        trainer.run()
    latest = trainer.history[-1]["step"]
    assert 0 < latest <= 130 and trainer.kept_step == latest
    assert f"kept the latest validated weights (step {latest:g})" in str(error.value) and "best" not in str(error.value)


class SolverFailsAfter(ExplodesAfter):
    def __call__(self, x, group):
        self.calls += 1
        if self.calls > self.step:
            raise NumericalError("the dopri5 step size underflowed", "loosen the tolerances (--set rtol=1e-4)")
        return self.original(x, group)


def test_a_numerical_error_stops_training_with_its_cause_and_keeps_the_best_weights():
    trainer = make_trainer(steps=500)
    trainer.model.objective = SolverFailsAfter(trainer.model, 100)
    with pytest.raises(TrainingDiverged, match="stopped at step 100: the dopri5 step size underflowed; loosen"):
        trainer.run()
    assert trainer.model.validation_score(trainer.validation_data) == pytest.approx(trainer.best_score, abs=1e-6)


def test_a_model_can_give_its_own_divergence_advice():
    trainer = make_trainer(steps=500)
    trainer.model.objective = ExplodesAfter(trainer.model, 50)
    trainer.model.divergence_advice = lambda: "tighten the ODE tolerances"
    with pytest.raises(TrainingDiverged, match="diverged at step 50.*; tighten the ODE tolerances$"):
        trainer.run()


def test_sigterm_stops_between_steps_and_reports_interruption():
    trainer = make_trainer(steps=10_000_000)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    result = trainer.run()
    timer.join()
    assert result.status == "interrupted"
    assert "SIGTERM" in result.message
    assert 0 < result.steps < 10_000_000
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_early_stopping_when_validation_stops_improving():
    trainer = make_trainer(steps=1000, lr=1e-9, patience=3, warmup=0.0)
    trainer.model.validation_score = lambda x: 1.0  # never improves after the first
    result = trainer.run()
    assert result.status == "early_stopped"
    assert result.steps < 1000


@pytest.mark.parametrize("patience, status, steps", [(10, "completed", 100), (9, "early_stopped", 90)])
def test_patience_running_out_on_the_budgets_last_step_is_a_completed_run(patience, status, steps):
    # Validations at steps 10, 20, ..., 100 never improve on the baseline of step 0: with
    # patience 10 the last one exhausts it on the step that ends the budget, which nothing cut
    # short; with patience 9 it runs out at step 90, before the budget.
    trainer = make_trainer(steps=100, lr=1e-9, patience=patience, warmup=0.0)
    trainer.model.validation_score = lambda x: 1.0
    result = trainer.run()
    assert (result.status, result.steps) == (status, steps)
    assert f"did not improve for {patience} validations" in result.message
    assert ("the budget ended at step 100" in result.message) == (status == "completed")


def test_ema_weights_are_validated_and_kept():
    trainer = make_trainer(steps=200, ema_decay=0.9)
    trainer.run()
    assert trainer.ema is not None
    trainer.restore_best()
    assert trainer.model.validation_score(trainer.validation_data) == pytest.approx(trainer.best_score, abs=1e-6)


def test_keep_best_false_keeps_the_final_weights():
    trainer = make_trainer(steps=200, keep_best=False)
    scores = iter([5.0, 1.0] + [3.0] * 100)  # the best score comes early, never again
    trainer.model.validation_score = lambda x: next(scores)
    result = trainer.run()
    assert result.best_score == 1.0 and result.best_step < 200  # still reported
    final = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.restore_best()
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, final[name], rtol=0, atol=0)
    # What is said about the kept weights is the final score, not the best one seen.
    assert not result.keep_best and (result.kept_score, result.kept_step) == (3.0, 200)
    assert result.kept_summary() == {"kept_weights": "latest", "latest_val_nll": 3.0, "latest_step": 200}


def test_keep_best_says_so_in_its_summary():
    trainer = make_trainer(steps=200)
    scores = iter([5.0, 1.0] + [3.0] * 100)
    trainer.model.validation_score = lambda x: next(scores)
    result = trainer.run()
    assert result.kept_summary() == {"kept_weights": "best", "best_val_nll": 1.0, "best_step": result.best_step}
    assert (result.kept_score, result.kept_step) == (1.0, result.best_step) and result.best_step < 200


def test_validation_keeps_to_its_share_of_a_time_budget():
    torch.manual_seed(0)
    model = create("test-gaussian", (3,))
    data = gaussian_data(2000)
    score = model.validation_score

    def slow_score(x: torch.Tensor) -> float:
        time.sleep(0.1)
        return score(x)

    model.validation_score = slow_score
    # 25 validations of 0.1 s due in a 1 s budget: on schedule they would take nearly all of it.
    trainer = Trainer(model, data, data, TrainConfig(validations=25, validation_share=0.25), Budget(seconds=1.0))
    result = trainer.run()
    # The share, plus the validation that crosses it and the final one.
    assert trainer.validation_seconds <= 0.25 * result.seconds + 0.25
    assert 2 <= len(result.history) < 10
    assert result.steps > 50


def test_a_model_that_finishes_gets_its_share_of_a_time_budget_held_back():
    torch.manual_seed(0)
    base = type(create("test-gaussian", (3,)))
    calls: list[tuple[float, float | None]] = []

    class Finishing(base):  # type: ignore[misc, valid-type]
        def finish_time_share(self) -> float:
            return 0.3

        def finish_training(self, validation: torch.Tensor, seconds: float | None = None) -> None:
            calls.append((trainer.elapsed, seconds))

    model = Finishing((3,), base.hyperparameters_class())
    data = gaussian_data(2000)
    trainer = Trainer(model, data, data, TrainConfig(validations=5), Budget(seconds=1.0))
    trainer.run()
    [(trained, seconds)] = calls
    assert 0.7 <= trained < 0.85  # training stopped at 70 % of the budget
    assert seconds == pytest.approx(1.0 - trained)
    # Under a step budget nothing is held back and the finish has no time limit.
    calls.clear()
    trainer = Trainer(model, data, data, TrainConfig(validations=5), Budget(steps=20))
    trainer.run()
    assert [seconds for _, seconds in calls] == [None] and trainer.step == 20


def test_a_score_shift_is_reported_everywhere_but_chooses_the_same_weights(monkeypatch):
    from pushforward.train.progress import TrainingProgress

    shown: list[tuple[float, str]] = []
    monkeypatch.setattr(TrainingProgress, "update", lambda self, fraction, **kw: shown.append((kw["score"], kw["score_name"])))
    plain = make_trainer(steps=120, patience=3)
    plain_result = plain.run()
    shifted = make_trainer(steps=120, patience=3, score_name="val_nll_data", score_shift=-7.25)
    result = shifted.run()
    # Early stopping and the kept weights are the same; only the reported numbers move.
    assert (result.status, result.steps, result.best_step) == (plain_result.status, plain_result.steps, plain_result.best_step)
    assert result.score_name == "val_nll_data" and result.best_score == pytest.approx(plain_result.best_score - 7.25, abs=1e-9)
    assert [row["val_nll_data"] for row in result.history] == pytest.approx([row["val_nll"] - 7.25 for row in plain_result.history], abs=1e-9)
    assert "val_nll" not in result.history[0]
    assert shown[-1] == (pytest.approx(result.best_score, abs=1e-9), "val_nll_data")  # the progress line's last words
    # The trainer's own best score, the one a checkpoint keeps, stays the model's.
    assert shifted.best_score == pytest.approx(plain.best_score, abs=1e-9)
    assert shifted.checkpoint()[1]["best_score"] == pytest.approx(plain.best_score, abs=1e-9)
    for name, value in shifted.best_state.items():
        torch.testing.assert_close(value, plain.best_state[name], rtol=0, atol=0)


def test_a_ctrl_c_while_the_model_finishes_waits_for_it_and_the_run_returns():
    # A GAN chooses its rejection bound after training (a tenth of its budget); Ctrl-C there
    # must not escape as KeyboardInterrupt, which would leave the run unsaved.
    trainer = make_trainer(steps=20)
    model = trainer.model
    finished = []

    class Finishing(type(model)):
        def finish_training(self, validation, seconds=None):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here
            finished.append(True)

    model.__class__ = Finishing
    # What the run must put back: the default handler, or SIG_IGN where the shell started the
    # tests in the background (nohup, CI runners), which ignores SIGINT.
    before = signal.getsignal(signal.SIGINT)
    try:
        result = trainer.run()
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C during finish_training escaped the trainer")
    assert finished == [True]
    assert result.status == "completed" and result.steps == 20
    assert signal.getsignal(signal.SIGINT) is before
