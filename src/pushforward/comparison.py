"""Side-by-side comparison: every model trained alike, measured alike, ranked, and reported.

(The module is ``comparison``, not ``compare``: a submodule named like the package's
``compare`` function would replace that function as an attribute of ``pushforward`` once imported.)

::

    import pushforward as pf
    board = pf.compare("checkerboard", models=["nsf", "realnvp"], time=60, seeds=3, out="runs/cmp")
    board.rows[0]["model"]            # the best by the ranking metric
    board.report                       # runs/cmp/report.html, viewable offline

Each model is fitted with :func:`pushforward.api.fit` once per seed k = 0 .. seeds−1 into
``OUT/<model>-seed<k>/``: the same time/step budget, the same seed k (so the same data split,
which depends on the seed only) and the same data settings. Each run is then evaluated with
:func:`pushforward.evaluation.evaluate_model` (same ``n``, same evaluation seed per k).

Ranking: by ``energy_ratio`` — the energy distance between model samples and held-out data
divided by its noise floor (the same statistic between two independent real samples of the
same size). Every family can be sampled, so every model gets one, and dividing by the floor
makes 1 mean "cannot be told from real data at this sample size". Lower is better; with several
seeds the mean over seeds ranks. Test NLL is shown beside it when a model has a likelihood
(labelled exact, estimate or upper bound), but never ranks, since not every family has one.

A run that raises (a diverged training, any error in training or evaluation) is recorded as
failed with its reason; the others still run. All inputs are checked before anything is trained
or written.
"""

from __future__ import annotations

import json
import math
import statistics
import time as clock
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pushforward import __version__
from pushforward.atomic import finite_or_none, write_json
from pushforward.errors import TrainingDiverged, UserError, suggest
from pushforward.names import check_data_argument, check_model_name

RANK_METRIC = "energy_ratio"
# The metrics a comparison may be ranked by (``rank_by``): +1 = lower is better, −1 = higher.
RANKINGS: dict[str, tuple[int, str]] = {
    "energy_ratio": (
        1,
        "energy distance to held-out data divided by its noise floor (two real samples of the same size); "
        "1 = indistinguishable at this sample size, lower is better; mean over seeds",
    ),
    "mmd": (1, "unbiased MMD² to held-out data with one multiscale Gaussian kernel for all models; lower is better"),
    "c2st_accuracy": (1, "held-out accuracy of a classifier telling samples from real data; 0.5 = indistinguishable, lower is better"),
    "test_nll": (1, "test negative log-likelihood in nats; lower is better; models without a likelihood are not ranked"),
    "kl_gap": (1, "test NLL minus the true entropy (toy data); lower is better; models without a likelihood are not ranked"),
    "precision": (-1, "share of samples inside the real data's k-NN support; higher is better"),
    "recall": (-1, "share of real points inside the samples' k-NN support; higher is better"),
    "coverage": (-1, "share of real points whose k-NN ball holds a sample; higher is better"),
}
RANK_DESCRIPTION = RANKINGS[RANK_METRIC][1]
LEADERBOARD = "leaderboard.json"
REPORT = "report.html"
DEFAULT_EVAL_N = 10_000
EVAL_SEED = 1234

# Metrics carried into the leaderboard, each averaged over the seeds that finished. With one
# seed the uncertainty is the metric's own (``<key>_se``); with more, the standard error over seeds.
SUMMARY_METRICS = (
    "energy_ratio",
    "energy_distance",
    "energy_floor",
    "energy_p_value",
    "mmd",
    "mmd_floor",
    "mmd_p_value",
    "c2st_accuracy",
    "c2st_p_value",
    "precision",
    "recall",
    "density",
    "coverage",
    "precision_floor",
    "recall_floor",
    "density_floor",
    "coverage_floor",
    "test_nll",
    "test_bits_per_dim",
    "kl_gap",
    "outside_support",
    "train_seconds",
    "train_steps",
    "sample_seconds",
    "eval_seconds",
)
# p-values are summarised by their median over seeds (a mean of p-values means little).
P_VALUES = {"energy_p_value", "mmd_p_value", "c2st_p_value"}


@dataclass
class RunOutcome:
    """One model trained and evaluated with one seed."""

    model: str
    family: str
    seed: int
    path: str
    status: str  # "ok" or "failed"
    reason: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """The ranked result of :func:`compare`: one row per model, plus every run behind them."""

    data: str
    models: list[str]
    seeds: int
    budget: dict[str, Any]
    eval_n: int
    ranked_by: str
    ranking: str
    rows: list[dict[str, Any]]
    runs: list[RunOutcome]
    out: Path
    report: Path
    total_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "pushforward_version": __version__,
            "data": self.data,
            "models": self.models,
            "seeds": self.seeds,
            "budget": self.budget,
            "eval_n": self.eval_n,
            "ranked_by": self.ranked_by,
            "ranking": self.ranking,
            "rows": self.rows,
            "runs": [asdict(run) for run in self.runs],
            "total_seconds": round(self.total_seconds, 3),
        }


@dataclass(frozen=True)
class ComparisonPlan:
    """Every input of a comparison, checked: nothing is trained or written before this exists."""

    data: str
    data_label: str
    models: list[str]
    families: dict[str, str]
    seeds: int
    seconds: float | None
    steps: int | None
    settings: dict[str, dict[str, Any]]  # per model: common settings, then its own
    eval_n: int
    out: Path
    force: bool
    rank_by: str = RANK_METRIC


def parse_models(models: str | Sequence[str]) -> list[str]:
    """``"nsf,realnvp"`` or ``["nsf", "realnvp"]`` → names, each checked against the registry.

    Every name is checked before any is used, so a typo in the last name stops the comparison
    before the first model trains; and without importing torch (see :mod:`pushforward.names`),
    so the command line refuses a typo at once.
    """
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models)]
    names = [m for m in names if m]
    if not names:
        raise UserError("no models to compare", "pass --models nsf,realnvp (see `pushforward models`)")
    for name in names:
        check_model_name(name)
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise UserError(f"model '{repeated[0]}' is listed twice", "list each model once (use --seeds for repeats)")
    return names


def default_compare_path(data_label: str, root: Path = Path("runs")) -> Path:
    """``runs/compare-<data>``, or the first free ``-2``, ``-3``, ... so nothing is overwritten."""
    base = root / f"compare-{data_label}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def check_output_directory(path: Path, force: bool) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"'{path}' exists and is not a directory", "choose another --out")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UserError(f"output directory '{path}' already exists", "choose another --out, or replace it with --force")


def plan_comparison(
    data: str | Path,
    models: str | Sequence[str],
    *,
    time: float | None = None,
    steps: int | None = None,
    seeds: int = 1,
    out: str | Path | None = None,
    force: bool = False,
    settings: dict[str, Any] | None = None,
    eval_n: int = DEFAULT_EVAL_N,
    rank_by: str = RANK_METRIC,
) -> ComparisonPlan:
    """Check every input of :func:`compare` and return the plan; raises :class:`UserError`.

    ``settings`` are ``--set`` values for every model (data and trainer settings, or a model
    hyperparameter every listed model has); ``"<model>.<key>"`` applies to that model only
    (e.g. ``{"nsf.layers": 4}``). Data settings must be common, so the split is the same.
    """
    # The names first, before torch and the model families are imported (seconds).
    names = parse_models(models)
    check_data_argument(data)

    from pushforward.data.source import load_dataset, resolve_spec
    from pushforward.models.base import get_entry, model_hyperparameters
    from pushforward.settings import DataSettings, split_settings
    from pushforward.train.config import Budget
    from pushforward.hparams import field_names
    from pushforward.evaluation import check_evaluation_size

    if rank_by not in RANKINGS:
        raise UserError(f"unknown metric '{rank_by}' to rank by", suggest(str(rank_by), list(RANKINGS)))
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"--seeds must be a whole number ≥ 1, not {seeds!r}", "use --seeds 1 (or 3 for error bars)")
    check_evaluation_size(eval_n)  # as eval checks it, but before anything trains
    if time is None and steps is None:
        time = 60.0
    Budget(seconds=time, steps=steps)  # raises on time ≤ 0 or steps < 1

    common: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {name: {} for name in names}
    data_keys = set(field_names(DataSettings))
    for key, value in (settings or {}).items():
        prefix, dot, rest = key.partition(".")
        if dot:
            if prefix not in own:
                raise UserError(f"setting '{key}' names model '{prefix}', which is not compared", f"compare it with --models, or use one of: {', '.join(names)}")
            if rest in data_keys:
                raise UserError(f"data setting '{rest}' must be the same for every model", f"use --set {rest}=... without '{prefix}.'")
            own[prefix][rest] = value
        else:
            common[key] = value
    merged = {name: {**common, **own[name]} for name in names}
    families = {}
    data_settings = None
    for name in names:
        entry = get_entry(name)
        families[name] = entry.family
        chosen = split_settings(entry, merged[name])  # raises on an unknown or bad setting
        model_hyperparameters(name, **chosen.model)  # and on a bad combination, before any run
        data_settings = chosen.data
    assert data_settings is not None
    spec = resolve_spec(data, seed=0, **data_settings.spec_sizes())
    load_dataset(spec)  # a file is read and checked (NaN, constant or unholdable columns) before any run
    target = Path(out) if out is not None else default_compare_path(spec.label)
    check_output_directory(target, force)
    return ComparisonPlan(
        data=str(data),
        data_label=spec.label,
        models=names,
        families=families,
        seeds=seeds,
        seconds=time,
        steps=steps,
        settings=merged,
        eval_n=eval_n,
        out=target,
        force=force,
        rank_by=rank_by,
    )


def compare(
    data: str | Path,
    models: str | Sequence[str] = ("nsf", "realnvp", "maf"),
    *,
    time: float | None = None,
    steps: int | None = None,
    seeds: int = 1,
    out: str | Path | None = None,
    force: bool = False,
    settings: dict[str, Any] | None = None,
    eval_n: int = DEFAULT_EVAL_N,
    rank_by: str = RANK_METRIC,
    device: str = "auto",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Leaderboard:
    """Train each of ``models`` on ``data`` with the same budget and seeds, evaluate, rank, report.

    ``time`` (seconds) and/or ``steps`` is the budget of *each* run; ``seeds`` runs per model with
    seeds 0 .. seeds−1. Writes ``OUT/<model>-seed<k>/`` (ordinary run directories),
    ``OUT/leaderboard.json`` and a self-contained ``OUT/report.html``; returns the
    :class:`Leaderboard`. ``out`` defaults to a new ``runs/compare-<data>`` directory; an
    existing non-empty one is refused unless ``force``. ``eval_n`` is the number of samples (and
    held-out points) of the sample-based metrics. ``rank_by`` names the ranking metric (one of
    :data:`RANKINGS`; ``energy_ratio`` by default). ``log`` receives one line per stage.
    """
    plan = plan_comparison(
        data, models, time=time, steps=steps, seeds=seeds, out=out, force=force, settings=settings, eval_n=eval_n, rank_by=rank_by
    )
    return run_comparison(plan, device=device, progress=progress, log=log)


def run_comparison(
    plan: ComparisonPlan, *, device: str = "auto", progress: bool = False, log: Callable[[str], None] | None = None
) -> Leaderboard:
    """Carry out a checked :class:`ComparisonPlan` (see :func:`compare`)."""
    say = log or (lambda line: None)
    started = clock.perf_counter()
    plan.out.mkdir(parents=True, exist_ok=True)
    runs: list[RunOutcome] = []
    interrupted = False
    for seed in range(plan.seeds):
        for name in plan.models:
            say(f"{name} (seed {seed}): training ...")
            outcome = _run_one(plan, name, seed, device=device, progress=progress)
            runs.append(outcome)
            if outcome.status == "ok":
                value = outcome.metrics.get(plan.rank_by)
                shown = f"{value:.3g}" if isinstance(value, float) else "—"
                say(f"{name} (seed {seed}): {outcome.training.get('steps')} steps in {outcome.training.get('seconds', 0):.1f} s, {plan.rank_by} {shown}")
            else:
                say(f"{name} (seed {seed}): failed — {outcome.reason}")
            if outcome.reason == "interrupted":
                interrupted = True
                break
        if interrupted:
            break
    board = Leaderboard(
        data=plan.data_label,
        models=plan.models,
        seeds=plan.seeds,
        budget={"seconds": plan.seconds, "steps": plan.steps},
        eval_n=plan.eval_n,
        ranked_by=plan.rank_by,
        ranking=RANKINGS[plan.rank_by][1],
        rows=rank_rows(summarize(plan, runs), plan.rank_by),
        runs=runs,
        out=plan.out,
        report=plan.out / REPORT,
        total_seconds=clock.perf_counter() - started,
    )
    write_json(plan.out / LEADERBOARD, finite_or_none(board.to_json()))
    from pushforward.report import write_report

    write_report(board, board.report)
    if interrupted:
        raise KeyboardInterrupt
    return board


def _run_one(plan: ComparisonPlan, name: str, seed: int, *, device: str, progress: bool) -> RunOutcome:
    from pushforward.api import fit

    path = plan.out / f"{name}-seed{seed}"
    outcome = RunOutcome(name, plan.families[name], seed, str(path), "failed")
    try:
        fitted = fit(
            plan.data,
            model=name,
            time=plan.seconds,
            steps=plan.steps,
            seed=seed,
            out=path,
            settings=dict(plan.settings[name]),
            device=device,
            progress=progress,
            force=plan.force,
        )
    except TrainingDiverged as error:
        outcome.reason = f"training diverged at step {error.step}: {error}"
        return outcome
    except Exception as error:  # any failure of one model must not stop the others
        outcome.reason = _describe(error)
        return outcome
    result = fitted.training
    assert result is not None
    # The kept weights' score: the best one, or for a model that keeps its latest weights (a
    # GAN) the latest one, whose weights are those evaluated.
    kept = "best" if result.keep_best else "latest"
    kept_score, kept_step = (result.best_score, result.best_step) if result.keep_best else (result.kept_score, result.kept_step)
    outcome.training = {
        "status": result.status,
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "kept_weights": kept,
        f"{kept}_score": kept_score,
        f"{kept}_step": kept_step,
        "validation_name": result.score_name,
    }
    if result.status == "interrupted":
        outcome.reason = "interrupted"
        return outcome
    try:
        eval_started = clock.perf_counter()
        metrics = fitted.evaluate(n=plan.eval_n, seed=EVAL_SEED + seed)
        metrics["eval_seconds"] = round(clock.perf_counter() - eval_started, 3)
    except Exception as error:
        outcome.reason = f"evaluation failed: {_describe(error)}"
        return outcome
    metrics["train_seconds"], metrics["train_steps"] = outcome.training["seconds"], result.steps
    outcome.metrics, outcome.status = metrics, "ok"
    return outcome


def _describe(error: BaseException) -> str:
    if isinstance(error, UserError):
        return error.one_line()
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    place = f" (at {Path(where.filename).name}:{where.lineno})" if where is not None else ""
    return f"{type(error).__name__}: {error}{place}"


def summarize(plan: ComparisonPlan, runs: list[RunOutcome]) -> list[dict[str, Any]]:
    """One row per model: each summary metric's mean and uncertainty over the seeds that finished.

    The uncertainty ``<key>_se`` is the standard error over seeds (sample standard deviation /
    √seeds) when two or more seeds finished, else the run's own standard error where it has one
    (test NLL, C2ST accuracy, precision, ...). A metric a model does not have (a GAN's NLL)
    is None, never 0.
    """
    rows = []
    for name in plan.models:
        mine = [r for r in runs if r.model == name]
        done = [r for r in mine if r.status == "ok"]
        failed = [r for r in mine if r.status != "ok"]
        row: dict[str, Any] = {
            "model": name,
            "family": plan.families[name],
            "status": "ok" if done else "failed",
            "seeds_ok": len(done),
            "seeds_failed": len(failed),
            "reason": failed[0].reason if failed else None,
            "run": done[0].path if done else (mine[0].path if mine else None),
            # What the models found wrong with themselves (a VAE's collapsed latent), per seed.
            "warnings": [f"seed {r.seed}: {w}" for r in done for w in r.metrics.get("warnings", [])],
        }
        if done:
            first = done[0].metrics
            row["test_nll_label"] = first.get("test_nll_label")
            row["test_nll_kind"] = first.get("test_nll_kind")
        for key in SUMMARY_METRICS:
            values = [r.metrics.get(key) for r in done]
            numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
            if not numbers or len(numbers) < len(done):
                row[key], row[f"{key}_se"] = None, None
                continue
            if key in P_VALUES:
                row[key], row[f"{key}_se"] = statistics.median(numbers), None
                continue
            row[key] = statistics.fmean(numbers)
            if len(numbers) > 1:
                row[f"{key}_se"] = statistics.stdev(numbers) / math.sqrt(len(numbers))
            else:
                own_se = done[0].metrics.get(f"{key}_se")
                row[f"{key}_se"] = own_se if isinstance(own_se, (int, float)) else None
        rows.append(row)
    return rows


def rank_rows(rows: list[dict[str, Any]], by: str = RANK_METRIC) -> list[dict[str, Any]]:
    """Sort by the ranking metric (best first, see :data:`RANKINGS`); models without it (failed,
    or without a likelihood when ranking by NLL) go last, unranked."""
    direction = RANKINGS[by][0]
    ranked = sorted(rows, key=lambda r: (r.get(by) is None, direction * (r.get(by) or 0.0)))
    rank = 0
    for row in ranked:
        if row.get(by) is None:
            row["rank"] = None
        else:
            rank += 1
            row["rank"] = rank
    return ranked


# -- the demo: one model per registered family ----------------------------------------------

# The model that stands for each family in the demo, in order of preference. A family missing
# here (or whose preferred names are all absent) is represented by its first model by name, so a
# new family shows up in the demo as soon as it is registered.
FAMILY_DEFAULTS: dict[str, tuple[str, ...]] = {
    "flow": ("nsf",),
    # rectified flow (with Fourier features of x) reaches the lowest KL gap of the continuous
    # models in a short budget on the checkerboard (BENCHMARKS.md)
    "continuous": ("rectified", "cfm", "otflow"),
    "vae": ("vae",),
    "diffusion": ("ddpm",),
    "gan": ("gan",),
}
DEMO_DATA = "checkerboard"
# The demo must finish within 5 minutes on 2 CPU cores: 270 s of wall time in all, of which each
# model is given about 20 s for its data, figures and evaluation (measured for the flows: 5-15 s),
# and the rest is training time, split evenly — 70 s each for 3 models, 34 s each for 5. On a
# slower machine the overhead grows. On 2026-12-05's (speed probe 185-198 ms against the 65 ms of
# the machine the plan was made on) it was 25.6 s per model on average in one run (5 min 9 s in
# all, with 34 s of training each) and 32 s in the next (4 min 57 s, with 27 s each). So the
# overhead is scaled by (probe / 65 ms)^0.45: 32 s at 185 ms, the larger of the two.
DEMO_WALL_SECONDS = 270.0
DEMO_OVERHEAD_PER_MODEL = 20.0
DEMO_OVERHEAD_EXPONENT = 0.45


def demo_overhead_per_model(probe_ms: float | None = None) -> float:
    """Seconds of evaluation and figures per model, on a machine whose
    :func:`~pushforward.speed.speed_probe` took ``probe_ms`` (None: the reference machine)."""
    from pushforward.speed import REFERENCE_PROBE_MS

    if probe_ms is None or not math.isfinite(probe_ms) or probe_ms <= REFERENCE_PROBE_MS:
        return DEMO_OVERHEAD_PER_MODEL
    return DEMO_OVERHEAD_PER_MODEL * (probe_ms / REFERENCE_PROBE_MS) ** DEMO_OVERHEAD_EXPONENT


def demo_training_seconds(models: int, probe_ms: float | None = None) -> float:
    """Total training time of the demo for this many models (see :data:`DEMO_WALL_SECONDS`), on
    a machine whose speed probe took ``probe_ms``."""
    return max(DEMO_WALL_SECONDS - demo_overhead_per_model(probe_ms) * models, 5.0 * models)


# The default of `demo --n`: the demo evaluates each model on 5,000 samples and as many held-out
# points, half of compare's DEFAULT_EVAL_N, within the time its plan leaves each model for data,
# figures and evaluation (DEMO_OVERHEAD_PER_MODEL).
DEMO_EVAL_N = 5000
DEMO_SETTINGS = {"n_test": 20_000}  # test NLL ± 0.01 nats, and fast for families with costly log_prob


def demo_models() -> tuple[list[str], str]:
    """The demo's models and why: one per registered family, or every model of the only one."""
    from pushforward.models.base import available_models

    by_family: dict[str, list[str]] = {}
    for entry in available_models():
        by_family.setdefault(entry.family, []).append(entry.name)
    if len(by_family) == 1:
        family, names = next(iter(by_family.items()))
        # The family's default first, so it leads the report when models tie.
        first = [name for name in FAMILY_DEFAULTS.get(family, ()) if name in names][:1]
        return first + sorted(set(names) - set(first)), f"only the {family} family is registered, so all of its models"
    order = [f for f in FAMILY_DEFAULTS if f in by_family] + sorted(f for f in by_family if f not in FAMILY_DEFAULTS)
    chosen = []
    for family in order:
        preferred = [name for name in FAMILY_DEFAULTS.get(family, ()) if name in by_family[family]]
        chosen.append(preferred[0] if preferred else sorted(by_family[family])[0])
    return chosen, f"one model per registered family ({', '.join(order)})"


def default_demo_path(root: Path = Path("runs") / "demo") -> Path:
    """``runs/demo/<date>-<time>``, with ``-2``, ``-3``, ... if that exists: never an old run."""
    base = root / clock.strftime("%Y%m%d-%H%M%S")
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def read_leaderboard(out: str | Path) -> dict[str, Any]:
    """The JSON leaderboard written by :func:`compare` in ``out``."""
    with open(Path(out) / LEADERBOARD, encoding="utf-8") as stream:
        return json.load(stream)


__all__ = ["Leaderboard", "RunOutcome", "compare", "plan_comparison", "read_leaderboard"]
