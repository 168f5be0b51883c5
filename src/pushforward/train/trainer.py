"""One trainer for every family.

A model declares parameter groups, the order of their optimizer steps and a loss for each
(:mod:`pushforward.models.base`); the trainer owns everything else: the budget, AdamW with a
schedule over that budget, gradient clipping, validation with early stopping and the best
weights kept, an optional exponential moving average of the weights, the history, a progress
line, graceful interruption (Ctrl-C / SIGTERM) and divergence handling.
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from pushforward.errors import NumericalError, TrainingDiverged
from pushforward.models.base import GenerativeModel
from pushforward.train.config import Budget, TrainConfig
from pushforward.train.progress import TrainingProgress
from pushforward.train.schedule import learning_rate_factor
from pushforward.train.state import clone_state, flatten_optimizer_state, unflatten_optimizer_state

CHECKPOINT_EVERY_SECONDS = 30.0


@dataclass
class TrainResult:
    """How a training run ended. Its scores are as reported (see :class:`Trainer`'s
    ``score_name`` and ``score_shift``: a likelihood in the data's units), not the model's raw
    :meth:`~pushforward.models.base.GenerativeModel.validation_score`."""

    # "completed" (the budget ran out, even if patience ran out on the same step: the message
    # then says so), "early_stopped", "interrupted" or "diverged"
    status: str
    steps: int
    seconds: float
    best_score: float
    best_step: int
    message: str
    history: list[dict[str, float]] = field(default_factory=list)
    score_name: str = "val_nll"
    keep_best: bool = True
    # The score and step of the weights kept: the best ones with keep_best, otherwise those of
    # the latest validation with a finite score (the final weights of a run that did not diverge).
    kept_score: float = math.inf
    kept_step: int = 0

    def kept_summary(self) -> dict[str, Any]:
        """The kept weights' validation score for ``metrics.json``: ``best_<score>`` and
        ``best_step``, or, for a model that keeps its latest weights (``keep_best`` false: GANs,
        flow matching), ``latest_<score>`` and ``latest_step``, since the best score seen then
        belongs to weights that were not kept."""
        if self.keep_best:
            return {"kept_weights": "best", f"best_{self.score_name}": self.best_score, "best_step": self.best_step}
        return {"kept_weights": "latest", f"latest_{self.score_name}": self.kept_score, "latest_step": self.kept_step}


class _StopRequest:
    """Turns SIGINT / SIGTERM into a flag checked between steps, so a step is never cut in half."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame: Any) -> None:
        if self.signal_name is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user insists
        self.signal_name = signal.Signals(number).name

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class Trainer:
    def __init__(
        self,
        model: GenerativeModel,
        train: Tensor,
        validation: Tensor,
        config: TrainConfig,
        budget: Budget,
        *,
        seed: int = 0,
        progress: bool = False,
        description: str = "training",
        on_checkpoint: Callable[[Trainer], None] | None = None,  # periodic saves; the caller saves at the end
        score_name: str | None = None,
        score_shift: float = 0.0,
    ) -> None:
        """``score_name`` and ``score_shift``: the model's validation score is reported (history,
        progress line, :class:`TrainResult`) as ``score + score_shift`` under ``score_name``
        (default: the model's own ``validation_name``, unshifted); ``fit`` uses them to report a
        likelihood in the data's units. The choice of weights and early stopping compare the
        model's own scores: a constant shift changes neither, and a checkpoint's ``best_score``
        means the same whatever a run reports."""
        self.model = model
        self.device = model.device
        self.train_data = train.to(self.device)
        self.validation_data = validation.to(self.device)
        self.config = config
        self.budget = budget
        # A model with work to do after training (a GAN choosing its rejection bound) gets its
        # share of a time budget held back, so the whole run keeps to the time asked for.
        self.finish_share = model.finish_time_share() if self._model_finishes() else 0.0
        self.training_budget = budget.holding_back(self.finish_share)
        self.progress_enabled = progress
        self.description = description
        self.on_checkpoint = on_checkpoint
        self.score_name = score_name or model.validation_name
        self.score_shift = score_shift
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

        self.groups = model.parameter_groups()
        self.plan = model.step_plan()
        # An optional last phase with its own plan (a GAN's discriminator calibration): it takes
        # the last `fraction` of the budget, and its groups' schedule restarts over that share.
        self.final_phase = model.final_phase()
        if self.final_phase is not None and not 0.0 < self.final_phase[0] < 1.0:
            raise ValueError(f"a final phase takes a fraction of the budget in (0, 1), not {self.final_phase[0]}")
        self.final_phase_started = False
        self.optimizers = {name: self._make_optimizer(name, params) for name, params in self.groups.items()}
        self.base_lrs = {name: [g["lr"] for g in opt.param_groups] for name, opt in self.optimizers.items()}
        # Each group's learning rate now as a fraction of its base rate (the schedule's factor),
        # passed to the model after each step (a VAE's KL warm-up counts steps by it).
        self.learning_rate_factors = {name: 1.0 for name in self.optimizers}

        self.step = 0
        self.elapsed = 0.0
        self.validations_done = 0
        self.validation_seconds = 0.0
        self.bad_validations = 0
        # The model's own scores (unshifted): the best one seen, and that of the weights in
        # best_state, which are the best ones with keep_best and the latest validated otherwise.
        self.best_score = math.inf
        self.best_step = 0
        self.kept_score = math.inf
        self.kept_step = 0
        self.best_state: dict[str, Tensor] | None = None
        self.ema: dict[str, Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self._order: Tensor | None = None
        # The generator's state just before it drew _order: a checkpoint keeps this (5 kB)
        # rather than the order itself (8 bytes a training point: 8 MB of a 9.6 MB realnvp
        # checkpoint on a million points), and a resume draws the same order again from it.
        # None while the order in use came from an older checkpoint that stored it outright.
        self._order_state: Tensor | None = None
        self._cursor = 0
        self._sums: dict[str, float] = {}
        self._count = 0

    # -- set-up ----------------------------------------------------------------------------

    def _make_optimizer(self, name: str, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        options = {
            "lr": self.config.lr,
            "betas": (self.config.beta1, self.config.beta2),
            "weight_decay": self.config.weight_decay,
            "kind": "adamw",
        }
        options.update(self.model.optimizer_options(name))
        kind = options.pop("kind")
        if kind == "rmsprop":
            options.pop("betas")
            return torch.optim.RMSprop(params, **options)
        # The fused kernel updates every tensor in one pass: about a third of the per-step cost
        # of the default multi-tensor loop on CPU, which matters for small models taking
        # thousands of short steps. It needs floating-point parameters on a CPU, CUDA or MPS
        # device.
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda", "mps") for p in params)
        return torch.optim.AdamW(params, fused=fused or None, **options)

    # -- batches ---------------------------------------------------------------------------

    def _next_batch(self) -> Tensor:
        n = self.train_data.shape[0]
        size = min(self.config.batch_size, n)
        if self._order is None or self._cursor + size > n:
            self._order_state = self.generator.get_state()
            self._order = torch.randperm(n, generator=self.generator).to(self.device)
            self._cursor = 0
        index = self._order[self._cursor : self._cursor + size]
        self._cursor += size
        return self.train_data[index]

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self.model.train()
        self.model.start_training()
        status, message = "completed", ""
        with _StopRequest() as stop, TrainingProgress(self.progress_enabled, self.description) as bar:
            if self.step == 0:
                self._validate(log=False)  # a baseline, so there are always good weights to keep
            start = time.perf_counter() - self.elapsed
            last_checkpoint = time.perf_counter()
            rate_clock, rate_steps = time.perf_counter(), self.step
            rate = 0.0
            next_validation = self._next_validation_progress()
            while True:
                fraction = self.training_budget.progress(self.step, self.elapsed)
                if fraction >= 1.0:
                    break
                if stop.signal_name is not None:
                    status = "interrupted"
                    message = f"stopped by {stop.signal_name} at step {self.step}"
                    break
                self._set_learning_rates(fraction)
                diverged = self._train_step(self._plan_at(fraction))
                self.elapsed = time.perf_counter() - start
                if diverged is not None:
                    status, message = "diverged", diverged
                    break
                fraction = self.training_budget.progress(self.step, self.elapsed)
                now = time.perf_counter()
                if now - rate_clock > 0.5:
                    rate = (self.step - rate_steps) / (now - rate_clock)
                    rate_clock, rate_steps = now, self.step
                    bar.update(
                        fraction,
                        loss=self._sums.get("loss", math.nan) / max(self._count, 1),
                        score=None if math.isinf(self.kept_score) else self.reported(self.kept_score),
                        score_name=self.score_name,
                        rate=rate,
                        left=self._time_left(rate),
                    )
                if (fraction >= next_validation or fraction >= 1.0) and self._validation_in_share():
                    improved = self._validate(log=True)
                    next_validation = self._next_validation_progress()
                    if not improved and self.config.patience and self.bad_validations >= self.config.patience:
                        stalled = f"validation score did not improve for {self.bad_validations} validations"
                        if fraction >= 1.0:
                            # Patience ran out on the step that ended the budget: training was
                            # not cut short, so the run completed; the message says both.
                            message = f"the budget ended at step {self.step}, where the {stalled} (patience {self.config.patience})"
                        else:
                            status, message = "early_stopped", f"{stalled}; stopped at step {self.step}"
                        break
                    # Periodic checkpoints survive even a SIGKILL; validation and checkpoint
                    # time count against the budget like any other work.
                    if self.on_checkpoint and now - last_checkpoint > CHECKPOINT_EVERY_SECONDS:
                        self.on_checkpoint(self)
                        last_checkpoint = time.perf_counter()
            if status in ("completed", "interrupted", "early_stopped") and self._count:
                self._validate(log=True)
            bar.update(
                self.training_budget.progress(self.step, self.elapsed),
                loss=self.history[-1].get("loss", math.nan) if self.history else math.nan,
                score=self.reported(self.kept_score),
                score_name=self.score_name,
                rate=rate,
                left=0.0,
            )
            # Still under the stop request: a Ctrl-C while the model makes its last choice (a
            # GAN's rejection bound, a tenth of its budget) waits for it, as one during a step
            # does, instead of losing the run before anything is saved.
            if status == "diverged":
                self.restore_best()
            else:
                self._finish_model()
        result = self.result(status, message)
        if status == "diverged":
            raise TrainingDiverged(message, self.step)
        return result

    def _model_finishes(self) -> bool:
        return type(self.model).finish_training is not GenerativeModel.finish_training

    def reported(self, score: float) -> float:
        """A validation score of the model as this run reports it (see ``score_shift``)."""
        return score + self.score_shift

    def result(self, status: str, message: str) -> TrainResult:
        """The run so far, its scores as reported."""
        return TrainResult(
            status,
            self.step,
            self.elapsed,
            self.reported(self.best_score),
            self.best_step,
            message,
            self.history,
            score_name=self.score_name,
            keep_best=self.config.keep_best,
            kept_score=self.reported(self.kept_score),
            kept_step=self.kept_step,
        )

    def _finish_model(self) -> None:
        """The model's last choice on held-out data, made on the weights that are kept, in the
        time left of a time budget."""
        if not self._model_finishes():
            return  # nothing to do: leave the current weights as they are (a resume continues them)
        start = time.perf_counter()
        seconds = None if self.budget.seconds is None else max(self.budget.seconds - self.elapsed, 0.0)
        self.restore_best()
        self.model.eval()
        try:
            with torch.no_grad():
                self.model.finish_training(self.validation_data, seconds)
        finally:
            self.model.train()
        self.best_state = clone_state(self.model)
        self.elapsed += time.perf_counter() - start

    def _next_validation_progress(self) -> float:
        return (self.validations_done + 1) / self.config.validations

    def _validation_in_share(self) -> bool:
        """Whether validation has used at most ``validation_share`` of the time (always true
        under a step budget, whose validations stay on schedule)."""
        if self.budget.seconds is None:
            return True
        return self.validation_seconds <= self.config.validation_share * self.elapsed

    def _time_left(self, rate: float) -> float:
        estimates = []
        if self.budget.seconds is not None:
            estimates.append(self.budget.seconds - self.elapsed)
        if self.budget.steps is not None and rate > 0:
            estimates.append((self.budget.steps - self.step) / rate)
        return max(min(estimates), 0.0) if estimates else math.nan

    def _set_learning_rates(self, fraction: float) -> None:
        for name, optimizer in self.optimizers.items():
            factor = learning_rate_factor(
                self._schedule_progress(name, fraction),
                schedule=self.config.schedule,
                warmup=self.config.warmup,
                final=self.config.final_lr,
            )
            self.learning_rate_factors[name] = factor
            for group, base in zip(optimizer.param_groups, self.base_lrs[name]):
                group["lr"] = base * factor

    # -- the final phase -------------------------------------------------------------------

    def _final_start(self) -> float:
        return 1.0 if self.final_phase is None else 1.0 - self.final_phase[0]

    def _schedule_progress(self, group: str, fraction: float) -> float:
        """Where ``group`` is on its schedule: the main plan anneals over the budget before the
        final phase, the final phase's groups anneal again over its share."""
        if self.final_phase is None:
            return fraction
        start = self._final_start()
        if fraction >= start and any(group == name for name, _ in self.final_phase[1]):
            return (fraction - start) / self.final_phase[0]
        return min(fraction / start, 1.0)

    def _plan_at(self, fraction: float) -> list[tuple[str, int]]:
        if self.final_phase is None or fraction < self._final_start():
            return self.plan
        if not self.final_phase_started:
            # The final phase finishes the weights that are kept: with keep_best, the best ones.
            self.final_phase_started = True
            if self.config.keep_best:
                self.restore_best()
        return self.final_phase[1]

    def _train_step(self, plan: list[tuple[str, int]] | None = None) -> str | None:
        """One iteration of a step plan (the model's by default); returns a divergence message or None."""
        plan = self.plan if plan is None else plan
        multiple = len(self.groups) > 1
        for group, repeats in plan:
            optimizer = self.optimizers[group]
            params = self.groups[group]
            for _ in range(repeats):
                batch = self._next_batch()
                optimizer.zero_grad(set_to_none=True)
                try:
                    outputs = self.model.objective(batch, group)
                    loss = outputs["loss"]
                    if not torch.isfinite(loss):
                        return self._divergence_message(group, float(loss.detach()))
                    loss.backward()
                except NumericalError as error:  # e.g. an ODE solver's step underflowed
                    return f"training stopped at step {self.step}: {error}; {self._kept_words()}"
                if self.config.grad_clip > 0:
                    norm = torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
                    if not torch.isfinite(norm):
                        return self._divergence_message(group, float(norm), what="gradient norm")
                optimizer.step()
                self.model.after_step(group, self.learning_rate_factors[group])
                for key, value in outputs.items():
                    name = f"{group}_{key}" if multiple else key
                    self._sums[name] = self._sums.get(name, 0.0) + float(value.detach())
                if multiple:
                    self._sums["loss"] = self._sums.get("loss", 0.0) + float(loss.detach()) / repeats
        self._count += 1
        self.step += 1
        self._update_ema()
        return None

    def _divergence_message(self, group: str, value: float, what: str = "loss") -> str:
        label = "the loss" if group == "model" else f"the {group} loss"
        if what != "loss":
            label = f"the {group} {what}" if group != "model" else f"the {what}"
        advice = self.model.divergence_advice() or (
            f"lower the learning rate (--set lr={self.config.lr / 3:.2g}) or clip gradients harder (--set grad_clip=1)"
        )
        return f"training diverged at step {self.step}: {label} is {value}; {self._kept_words()}; {advice}"

    def _kept_words(self) -> str:
        # With keep_best false the weights kept are the latest validated, not the best.
        which = "best" if self.config.keep_best else "latest validated"
        return f"kept the {which} weights (step {self.kept_step})"

    # -- EMA -------------------------------------------------------------------------------

    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        if decay <= 0:
            return
        # Debiased warm-up (as in Adam's bias correction idea): early averages follow the weights.
        effective = min(decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            if self.ema is None:
                self.ema = {n: p.detach().clone() for n, p in self.model.named_parameters()}
                return
            for name, param in self.model.named_parameters():
                self.ema[name].lerp_(param.detach(), 1 - effective)

    def _swap_ema(self) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                current = param.detach().clone()
                param.copy_(self.ema[name])
                self.ema[name] = current

    # -- validation and best weights -------------------------------------------------------

    def _validate(self, log: bool) -> bool:
        started = time.perf_counter()
        try:
            return self._validate_now(log)
        finally:
            self.validation_seconds += time.perf_counter() - started

    def _validate_now(self, log: bool) -> bool:
        self._swap_ema()
        self.model.eval()
        try:
            score = self.model.validation_score(self.validation_data)
        except NumericalError:
            score = math.inf  # e.g. the ODE solver failed on these weights: never keep them
        finally:
            self.model.train()
        improved = math.isfinite(score) and score < self.best_score
        # In a final phase the score of the main plan's weights no longer changes: keep its latest.
        keep_latest = (not self.config.keep_best or self.final_phase_started) and math.isfinite(score)
        if improved or keep_latest or self.best_state is None:
            self.best_state = clone_state(self.model)
            self.kept_score, self.kept_step = score, self.step
        if improved:
            self.best_score, self.best_step = score, self.step
            self.bad_validations = 0
        elif log:
            self.bad_validations += 1
        self._swap_ema()
        if log:
            self.validations_done += 1
            row = {"step": self.step, "time": round(self.elapsed, 3)}
            row["lr"] = next(iter(self.optimizers.values())).param_groups[0]["lr"]
            for key, total in self._sums.items():
                row[key] = total / max(self._count, 1)
            row[self.score_name] = self.reported(score)
            self.history.append(row)
            self._sums, self._count = {}, 0
        return improved

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    # -- checkpoints -----------------------------------------------------------------------

    def checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Everything needed to resume: current weights, optimizers, EMA, RNG, counters."""
        tensors: dict[str, Tensor] = {f"current.{k}": v.detach() for k, v in self.model.state_dict().items()}
        meta: dict[str, Any] = {"optimizers": {}}
        for name, optimizer in self.optimizers.items():
            flat, scalars = flatten_optimizer_state(optimizer.state_dict(), f"optimizer.{name}")
            tensors.update(flat)
            meta["optimizers"][name] = scalars
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.items()})
        tensors["rng"] = self.generator.get_state()
        # So the epoch in progress continues unchanged: the state that draws its order again,
        # with the order's fingerprint to check the draw by; or, for an order that came from an
        # older checkpoint, the order itself (int32 when the indices fit).
        if self._order is not None and self._order_state is not None:
            tensors["batch_order_rng"] = self._order_state
            meta["batch_order_size"] = int(self._order.shape[0])
            meta["batch_order_fingerprint"] = _fingerprint(self._order)
        elif self._order is not None:
            small = self._order.shape[0] <= torch.iinfo(torch.int32).max
            tensors["batch_order"] = self._order.to(torch.int32) if small else self._order
        meta.update(
            step=self.step,
            elapsed=self.elapsed,
            validations_done=self.validations_done,
            validation_seconds=self.validation_seconds,
            bad_validations=self.bad_validations,
            best_score=self.best_score if math.isfinite(self.best_score) else None,
            best_step=self.best_step,
            kept_score=self.kept_score if math.isfinite(self.kept_score) else None,
            kept_step=self.kept_step,
            base_lrs=self.base_lrs,
            batch_cursor=self._cursor,
            final_phase_started=self.final_phase_started,
        )
        return {k: v.contiguous().cpu() for k, v in tensors.items()}, meta

    def restore(self, tensors: dict[str, Tensor], meta: dict[str, Any], best_state: dict[str, Tensor]) -> None:
        current = {k[len("current.") :]: v for k, v in tensors.items() if k.startswith("current.")}
        self.model.load_state_dict(current)
        for name, optimizer in self.optimizers.items():
            state = unflatten_optimizer_state(tensors, meta["optimizers"][name], f"optimizer.{name}")
            optimizer.load_state_dict(state)
        ema = {k[len("ema.") :]: v.to(self.device) for k, v in tensors.items() if k.startswith("ema.")}
        self.ema = ema or None
        self.generator.set_state(tensors["rng"])
        self._order, self._order_state = self._restore_order(tensors, meta)
        self._cursor = int(meta.get("batch_cursor", 0))
        self.final_phase_started = bool(meta.get("final_phase_started", False))
        self.step = int(meta["step"])
        self.elapsed = float(meta["elapsed"])
        self.validations_done = int(meta["validations_done"])
        self.validation_seconds = float(meta.get("validation_seconds", 0.0))  # absent before 2026-12-05
        self.bad_validations = int(meta["bad_validations"])
        self.best_score = math.inf if meta["best_score"] is None else float(meta["best_score"])
        self.best_step = int(meta["best_step"])
        # Checkpoints saved before the kept weights' score was recorded: the best one stands in
        # until the next validation (every run that trains at all ends with one).
        kept_score = meta.get("kept_score", meta["best_score"])
        self.kept_score = math.inf if kept_score is None else float(kept_score)
        self.kept_step = int(meta.get("kept_step", self.best_step))
        self.base_lrs = {k: list(v) for k, v in meta["base_lrs"].items()}
        self.best_state = {k: v.to(self.device) for k, v in best_state.items()}

    def _restore_order(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> tuple[Tensor | None, Tensor | None]:
        """The batch order of a checkpoint's epoch in progress, and the generator state that
        drew it (None for a checkpoint that stored the order itself, as those before
        2026-12-05 did)."""
        if "batch_order_rng" in tensors:
            state = tensors["batch_order_rng"].cpu()
            generator = torch.Generator(device="cpu")
            generator.set_state(state)
            order = torch.randperm(int(meta["batch_order_size"]), generator=generator)
            if order.shape[0] != self.train_data.shape[0] or _fingerprint(order) != meta.get("batch_order_fingerprint"):
                # Not the order the run was in (another torch may permute otherwise): the next
                # batch starts a new epoch instead, so no point is seen twice in this one.
                return None, None
            return order.to(self.device), state
        if "batch_order" in tensors:
            return tensors["batch_order"].to(device=self.device, dtype=torch.long), None
        return None, None


def _fingerprint(order: Tensor) -> str:
    """A digest of a batch order, by which a resume checks that it drew the same one again."""
    values = order.detach().to(device="cpu", dtype=torch.int64).contiguous().numpy()
    return hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest()
