"""compare: models trained alike, evaluated alike, ranked; failures recorded; inputs checked first."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

import pushforward as pf
from pushforward.cli import main
from pushforward.comparison import RANK_METRIC, demo_models, plan_comparison
from pushforward.errors import UserError
from pushforward.models.base import _REGISTRY, ModelEntry
from pushforward.runs import RunDirectory
from tests.conftest import DiagonalGaussian
from tests.report_checks import check_report

TINY = ["--set", "n_train=2000", "--set", "n_validation=300", "--set", "n_test=600", "--set", "patience=0"]
TINY_SETTINGS = {"n_train": 2000, "n_validation": 300, "n_test": 600, "patience": 0}


class Diverging(DiagonalGaussian):
    """Its loss is NaN from the first step: training diverges."""

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        return {"loss": self.mean.sum() * math.nan}


class SamplesOnly(DiagonalGaussian):
    """A model without a likelihood (like a GAN): trained by matching mean and log-variance."""

    likelihood = "none"
    validation_name = "val_moments"
    validation_is_nll = False

    def log_prob(self, x: Tensor) -> Tensor:
        return super(DiagonalGaussian, self).log_prob(x)  # the base class: raises NotTractable

    def objective(self, x: Tensor, group: str) -> dict[str, Tensor]:
        return {"loss": self._moment_gap(x)}

    def _moment_gap(self, x: Tensor) -> Tensor:
        return ((x.mean(0) - self.mean) ** 2).sum() + ((x.var(0).log() / 2 - self.log_scale) ** 2).sum()

    @torch.no_grad()
    def validation_score(self, x: Tensor) -> float:
        return float(self._moment_gap(x))

    def warnings(self, diagnostics: dict) -> list[str]:
        return ["a test warning; nothing to change"]


@pytest.fixture(scope="module", autouse=True)
def test_models():
    entries = [
        ModelEntry("test-diverging", Diverging, "test", "NaN loss"),
        ModelEntry("test-samples-only", SamplesOnly, "test-sampler", "no likelihood"),
    ]
    for entry in entries:
        _REGISTRY[entry.name] = entry
    yield
    for entry in entries:
        _REGISTRY.pop(entry.name, None)


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    return pf.compare(
        "moons",
        models=["test-gaussian", "test-samples-only", "test-diverging"],
        steps=30,
        seeds=2,
        out=out,
        settings=TINY_SETTINGS,
        eval_n=400,
    )


def test_every_model_and_seed_has_its_run_and_the_leaderboard_is_ranked(board):
    assert {p.name for p in board.out.iterdir()} >= {
        "leaderboard.json", "report.html", "test-gaussian-seed0", "test-gaussian-seed1",
        "test-samples-only-seed0", "test-samples-only-seed1",
    }
    saved = json.loads((board.out / "leaderboard.json").read_text())
    assert saved["ranked_by"] == RANK_METRIC and saved["seeds"] == 2
    assert [row["model"] for row in saved["rows"]] == [row["model"] for row in board.rows]
    ranked = [row for row in board.rows if row["rank"] is not None]
    assert [row["rank"] for row in ranked] == [1, 2]
    assert ranked[0][RANK_METRIC] <= ranked[1][RANK_METRIC]
    # Same budget and same seeds for every model: each run's config says so.
    for row in ranked:
        for seed in (0, 1):
            config = json.loads((board.out / f"{row['model']}-seed{seed}" / "config.json").read_text())
            assert config["budget"] == {"seconds": None, "steps": 30} and config["seed"] == seed
            assert config["data"]["seed"] == seed and config["data"]["n_test"] == 600


def test_each_run_records_the_kept_weights_validation_score_in_its_units(board):
    for run in board.runs:
        if run.status != "ok":
            continue
        history = RunDirectory(run.path).read_history()
        name = run.training["validation_name"]
        # A likelihood in the data's units; any other score as the model gives it.
        assert name == {"test-gaussian": "val_nll_data", "test-samples-only": "val_moments"}[run.model]
        assert run.training["kept_weights"] == "best" and run.training["best_step"] <= 30
        assert run.training["best_score"] <= min(row[name] for row in history) + 1e-6  # the file keeps 8 digits


def test_two_seeds_give_the_mean_and_its_standard_error_over_seeds(board):
    row = next(r for r in board.rows if r["model"] == "test-gaussian")
    values = [r.metrics[RANK_METRIC] for r in board.runs if r.model == "test-gaussian"]
    assert row[RANK_METRIC] == pytest.approx(sum(values) / 2)
    assert row[f"{RANK_METRIC}_se"] == pytest.approx(abs(values[0] - values[1]) / 2)
    assert row["seeds_ok"] == 2 and row["status"] == "ok"


def test_a_model_without_likelihood_has_no_nll_rather_than_zero(board):
    row = next(r for r in board.rows if r["model"] == "test-samples-only")
    assert row["status"] == "ok" and row["test_nll"] is None and row["kl_gap"] is None
    assert row["c2st_accuracy"] is not None and row["precision"] is not None


def test_a_diverging_model_is_reported_as_failed_while_the_others_finish(board):
    row = next(r for r in board.rows if r["model"] == "test-diverging")
    assert row["status"] == "failed" and row["rank"] is None and row is board.rows[-1]
    assert "diverged" in row["reason"]
    assert row["seeds_failed"] == 2 and row[RANK_METRIC] is None


def test_warnings_the_models_give_are_carried_per_seed_into_the_board_and_the_report(board):
    rows = {row["model"]: row for row in board.rows}
    assert rows["test-gaussian"]["warnings"] == []
    assert rows["test-samples-only"]["warnings"] == [
        f"seed {seed}: a test warning; nothing to change" for seed in (0, 1)
    ]
    saved = json.loads((board.out / "leaderboard.json").read_text())
    assert next(r for r in saved["rows"] if r["model"] == "test-samples-only")["warnings"] == rows["test-samples-only"]["warnings"]
    assert "warning: seed 1: a test warning; nothing to change" in board.report.read_text(encoding="utf-8")


def test_the_report_is_valid_html_with_every_figure_embedded(board):
    text = board.report.read_text(encoding="utf-8")
    pngs, words = check_report(text)
    # Curves of all models, then density and history for each of the two models that finished.
    assert len(pngs) == 1 + 2 * 2
    assert "failed: training diverged" in words
    assert "real vs real" in words and RANK_METRIC in words
    # The no-likelihood model's NLL and KL cells show a dash.
    row = text.split('<td class="name">test-samples-only</td>')[1].split("</tr>")[0]
    assert row.count("<td>—</td>") >= 2


def test_compare_through_the_cli_with_real_flows(capsys, tmp_path):
    out = tmp_path / "cmp"
    code, text, err = run_cli(capsys, "compare", "checkerboard", "--models", "nsf,realnvp", "--steps", "20", "--out", out,
                              "--n", "300", "--no-progress", *TINY, "--set", "nsf.layers=2", "--set", "hidden_features=8")
    assert code == 0, err
    assert text.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    assert "ranked by energy_ratio" in text
    saved = json.loads((out / "leaderboard.json").read_text())
    assert {row["model"] for row in saved["rows"]} == {"nsf", "realnvp"}
    assert all(row["status"] == "ok" and row["test_nll_label"] == "exact" for row in saved["rows"])
    assert json.loads((out / "nsf-seed0" / "config.json").read_text())["hyperparameters"]["layers"] == 2
    check_report((out / "report.html").read_text(encoding="utf-8"))
    # --force replaces it; without it nothing is touched.
    before = (out / "leaderboard.json").read_bytes()
    code, _, err = run_cli(capsys, "compare", "checkerboard", "--models", "realnvp", "--steps", "5", "--out", out)
    assert code == 2 and "already exists" in err and (out / "leaderboard.json").read_bytes() == before
    code, _, _ = run_cli(capsys, "compare", "checkerboard", "--models", "realnvp", "--steps", "5", "--out", out,
                         "--n", "300", "--force", "--no-progress", *TINY, "--set", "hidden_features=8")
    assert code == 0
    assert [row["model"] for row in json.loads((out / "leaderboard.json").read_text())["rows"]] == ["realnvp"]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


BAD = [
    (["--models", "nsf,realnvpp"], "unknown model 'realnvpp'; did you mean 'realnvp'"),
    (["--models", "nsf,nsf"], "listed twice"),
    (["--models", ","], "no models to compare"),
    (["--seeds", "0"], "--seeds must be a whole number ≥ 1"),
    (["--time", "0"], "--time must be positive"),
    (["--time", "-5"], "--time must be positive"),
    (["--time", "inf"], "--time must be positive and finite"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--set", "hiden=3"], "unknown setting 'hiden'"),
    (["--set", "maf.layers=3"], "names model 'maf', which is not compared"),
    (["--set", "nsf.n_test=30"], "must be the same for every model"),
    (["--set", "nsf.layers=0"], "layers must be an integer >= 1"),  # checked before any model trains
    (["--n", "1"], "--n is 1, and precision/recall need more than k = 5 samples"),
    (["--n", "5"], "--n is 5, and precision/recall"),  # they would fail after training
    (["--out", "{dir}/taken"], "already exists"),
    (["--rank-by", "test_nl"], "unknown metric 'test_nl' to rank by; did you mean 'test_nll'"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_nothing_is_trained_or_written(capsys, tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "leaderboard.json").write_text("precious")
    before = snapshot(tmp_path)
    args = ["compare", "checkerboard", "--models", "nsf,realnvp", "--steps", "5", "--out", "{dir}/new"]
    code, _, err = run_cli(capsys, *[a.format(dir=tmp_path) for a in args + extra])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert snapshot(tmp_path) == before


def test_a_bad_data_file_is_refused_before_any_run(capsys, tmp_path):
    (tmp_path / "nan.csv").write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(50)) + "nan,1\n")
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "compare", tmp_path / "nan.csv", "--models", "nsf,realnvp", "--steps", "5",
                           "--out", tmp_path / "cmp")
    assert code == 2 and err.strip().count("\n") == 0 and "NaN" in err
    assert snapshot(tmp_path) == before


def test_the_python_api_checks_the_same_inputs():
    with pytest.raises(UserError, match="seeds"):
        plan_comparison("checkerboard", ["nsf"], seeds=True)
    with pytest.raises(UserError, match="unknown data set"):
        plan_comparison("checkerbord", ["nsf"])


def test_ranking_by_a_metric_where_higher_is_better_or_that_some_models_lack(board):
    from pushforward.comparison import rank_rows

    rows = rank_rows([dict(row) for row in board.rows], "coverage")
    ranked = [row for row in rows if row["rank"] is not None]
    assert len(ranked) == 2 and ranked[0]["coverage"] >= ranked[1]["coverage"]
    rows = rank_rows([dict(row) for row in board.rows], "test_nll")
    assert [row["model"] for row in rows if row["rank"] is not None] == ["test-gaussian"]


def test_the_demo_takes_one_model_per_family_or_every_model_of_the_only_one(monkeypatch):
    from pushforward.models.base import ModelEntry as Entry
    import pushforward.models.base as base

    base._load_families()  # first, or the imports would register into the patched registry below
    flows = {name: entry for name, entry in _REGISTRY.items() if entry.family == "flow"}
    monkeypatch.setattr(base, "_REGISTRY", dict(flows))
    names, why = demo_models()
    assert names == ["nsf"] + sorted(set(flows) - {"nsf"}) and "only the flow family" in why
    extra = {
        "cfm": Entry("cfm", DiagonalGaussian, "continuous", ""),
        "otflow": Entry("otflow", DiagonalGaussian, "continuous", ""),
        "wgan": Entry("wgan", DiagonalGaussian, "gan", ""),
        "zz": Entry("zz", DiagonalGaussian, "brand-new", ""),
    }
    monkeypatch.setattr(base, "_REGISTRY", {**flows, **extra})
    names, _ = demo_models()
    assert names == ["nsf", "cfm", "wgan", "zz"]  # cfm is preferred to otflow; rectified is absent


def test_the_demo_budget_fits_in_five_minutes_and_bad_demo_input_is_refused(capsys, tmp_path):
    from pushforward.comparison import DEMO_OVERHEAD_PER_MODEL, demo_training_seconds

    for models in (1, 3, 5, 8):
        assert demo_training_seconds(models) + DEMO_OVERHEAD_PER_MODEL * models <= 280
    assert demo_training_seconds(3) / 3 == pytest.approx(70)
    # A slower machine (a longer speed probe) leaves each model more time to evaluate and so
    # less to train, still within the 270 s; a faster one changes nothing.
    from pushforward.comparison import demo_overhead_per_model

    assert demo_training_seconds(5, 60.0) == demo_training_seconds(5) == pytest.approx(170)
    slow = demo_overhead_per_model(198.0)
    assert slow == pytest.approx(20 * (198 / 65) ** 0.45) and 32 < slow < 34
    assert demo_training_seconds(5, 198.0) + 5 * slow == pytest.approx(270)
    code, _, err = run_cli(capsys, "demo", "--time", "0", "--out", tmp_path / "d")
    assert code == 2 and "--time must be positive" in err and not (tmp_path / "d").exists()


def test_the_demo_refuses_bad_input_before_its_speed_probe(capsys, tmp_path, monkeypatch):
    import pushforward.comparison as comparison
    import pushforward.speed as speed
    from pushforward.comparison import demo_training_seconds

    probes: list[str] = []
    monkeypatch.setattr(speed, "speed_probe", lambda: probes.append("probe") or 198.0)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "results.txt").write_text("precious")
    for args, message in ((["--out", taken], "already exists"), (["--n", "1", "--out", tmp_path / "d"], "precision/recall need more than k")):
        code, _, err = run_cli(capsys, "demo", *args)
        assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert probes == [] and not (tmp_path / "d").exists() and (taken / "results.txt").read_text() == "precious"
    # Good input: the probe then runs, and the plan carries the budget it gives this machine.
    plans = []

    def stop_before_training(plan, **_):
        plans.append(plan)
        raise KeyboardInterrupt

    monkeypatch.setattr(comparison, "run_comparison", stop_before_training)
    code, out, _ = run_cli(capsys, "demo", "--out", tmp_path / "d")
    names, _ = demo_models()
    assert code == 130 and probes == ["probe"] and not (tmp_path / "d").exists()
    assert plans[0].seconds == pytest.approx(demo_training_seconds(len(names), 198.0) / len(names))
    assert f"({demo_training_seconds(len(names), 198.0):.0f} s in all; less than on a faster machine" in out


def test_the_reports_numbers_keep_their_significant_zeros():
    from pushforward.report import number, with_error

    assert [number(v) for v in (1.0004, 0.983, 123.0, 2.0, 1e-5)] == ["1.00", "0.983", "123", "2.00", "1.00e-05"]
    assert [number(v) for v in (None, math.nan, 1510, 1510.0)] == ["—", "—", "1,510", "1,510"]
    assert with_error({"energy_ratio": 1.0, "energy_ratio_se": 0.25}, "energy_ratio") == "1.00 ± 0.25"
