"""The Python API: fit → save → load round trips, and densities in the data's own units."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import pushforward as pf
from pushforward.errors import UserError
from tests.conftest import forget_setting, keep_saved_figures

TINY = {"n_train": "4000", "n_validation": "500", "n_test": "1000", "layers": "2", "hidden_features": "16", "bins": "6"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return pf.fit("checkerboard", model="nsf", steps=60, seed=3, out=out, settings=TINY, figures=False)


def test_load_gives_identical_log_prob_and_samples(fitted):
    again = pf.load(fitted.run.path)
    x = fitted.dataset().test[:500]
    np.testing.assert_array_equal(again.log_prob(x), fitted.log_prob(x))
    np.testing.assert_array_equal(again.sample(200, seed=11), fitted.sample(200, seed=11))
    assert again.config == fitted.config


def test_density_in_data_units_integrates_to_one(fitted):
    # The model sees standardised data; log_prob adds the standardisation's log-det, so the
    # density over the data's own coordinates must still integrate to 1.
    edges = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    grid = torch.cartesian_prod(centers, centers).float()
    density = np.exp(fitted.log_prob(grid))
    cell = float((edges[1] - edges[0]) ** 2)
    assert density.sum() * cell == pytest.approx(1.0, abs=2e-3)


def test_samples_are_repeatable_by_seed_and_in_data_units(fitted):
    a, b = fitted.sample(300, seed=5), fitted.sample(300, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fitted.sample(300, seed=6))
    assert np.abs(a).max() > 2.0  # the checkerboard spans [-4, 4]; standardised data would not


def test_fit_is_repeatable_with_a_seed(fitted, tmp_path):
    again = pf.fit("checkerboard", model="nsf", steps=60, seed=3, out=tmp_path / "again", settings=TINY, figures=False)
    x = fitted.dataset().test[:100]
    np.testing.assert_allclose(again.log_prob(x), fitted.log_prob(x), rtol=1e-5, atol=1e-5)


TINY_DATA = {"n_train": "2000", "n_validation": "500", "n_test": "500", "validations": "3"}
# Small networks, and for the GAN a small DRS bound selection (most of a tiny GAN fit's time).
TINY_OF_FAMILY = {
    "otflow": {"hidden_features": "16"},
    "vae": {"hidden_features": "16"},
    "ddpm": {"hidden_features": "16"},
    "gan": {"hidden_features": "16", "validation_samples": "200", "drs_selection_samples": "300"},
}


@pytest.mark.parametrize("model", list(TINY_OF_FAMILY))
def test_a_step_budget_with_one_seed_fits_the_same_weights_twice(model, tmp_path):
    # README promises that a step budget reproduces a run (a time budget cannot: its learning
    # rate follows the clock). One model of each family besides the flows tested above, each
    # with its own random draws in training (noise levels, posterior draws, the game's noise).
    settings = {**TINY_DATA, **TINY_OF_FAMILY[model]}

    def weights(seed: int, name: str) -> dict[str, torch.Tensor]:
        run = pf.fit("checkerboard", model=model, steps=12, seed=seed, out=tmp_path / name, settings=settings, figures=False)
        return run.model.state_dict()

    first, again, other = weights(5, "first"), weights(5, "again"), weights(6, "other")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert any(not torch.equal(first[key], other[key]) for key in first)


def test_evaluate_reports_kl_gap_against_log_32(fitted):
    results = fitted.evaluate(n=400)
    assert results["entropy"] == pytest.approx(np.log(32))
    assert results["kl_gap"] == pytest.approx(results["test_nll"] - np.log(32))
    assert results["kl_gap"] > -3 * results["kl_gap_se"]  # KL ≥ 0 up to sampling error
    assert 0 <= results["outside_support"] <= 1
    # log p is constant on the squares, so the paired estimate equals test NLL − entropy here.
    assert results["kl_gap_paired"] == pytest.approx(results["kl_gap"], abs=1e-9)
    assert fitted.run.read_metrics()["evaluation"]["test_nll"] == pytest.approx(results["test_nll"])


def test_wrong_shaped_points_are_user_errors(fitted):
    with pytest.raises(UserError, match="do not match"):
        fitted.log_prob(np.zeros((3, 5)))
    with pytest.raises(UserError, match="at least 1"):
        fitted.sample(0)


def test_public_names():
    assert {"nsf", "realnvp", "maf"} <= set(pf.list_models())
    assert "checkerboard" in pf.list_datasets()
    flow = pf.create("realnvp", event_shape=(2,), layers=2)
    assert flow.sample(5).shape == (5, 2)
    assert callable(pf.plot_density)


def test_paired_kl_estimate_agrees_with_the_entropy_one_on_a_noisy_toy(tmp_path):
    run = pf.fit("moons", model="nsf", steps=40, out=tmp_path / "moons", settings=TINY, figures=False)
    results = run.evaluate(n=200)
    gap, paired = results["kl_gap"], results["kl_gap_paired"]
    assert abs(gap - paired) < 4 * results["kl_gap_se"]
    assert results["kl_gap_paired_se"] < results["kl_gap_se"]
    assert paired > -3 * results["kl_gap_paired_se"]  # a KL divergence, up to sampling error


def test_a_run_saved_before_a_setting_existed_loads_as_it_was(tmp_path):
    # nsf's conditioners gained Fourier features (default 16); a run saved before has no
    # "fourier_features" in its config and must rebuild without them, not fail to load.
    settings = dict(TINY, fourier_features="0")
    run = pf.fit("checkerboard", model="nsf", steps=5, seed=1, out=tmp_path / "old", settings=settings, figures=False)
    forget_setting(run.run.path, "fourier_features")
    again = pf.load(run.run.path)
    assert again.model.hparams.fourier_features == 0
    x = run.dataset().test[:200]
    np.testing.assert_array_equal(again.log_prob(x), run.log_prob(x))


def test_the_metrics_and_viz_subpackages_are_attributes_of_a_fresh_import():
    # The README's `pf.metrics.energy_test(...)`, in a process where nothing imported them yet.
    import subprocess
    import sys

    code = "import pushforward as pf; pf.metrics.energy_test; pf.viz.plot_model; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# -- figures of runs on named columns ---------------------------------------------------------


def write_csv(path, header, values):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(f"{v:.6g}" for v in row) for row in values) + "\n")
    return path


@pytest.fixture
def drawn(monkeypatch):
    """The figures plot_model saves, kept for inspection."""
    import pushforward.viz.model_figure as module

    return keep_saved_figures(monkeypatch, module)


def test_a_1d_run_plots_its_density_curve_under_its_column_name(tmp_path, drawn):
    values = np.random.default_rng(5).normal(50.0, 10.0, size=(2000, 1))
    data = write_csv(tmp_path / "income.csv", ["income"], values)
    run = pf.fit(data, model="test-gaussian", steps=200, out=tmp_path / "run", settings={"patience": "0"}, figures=False)
    assert json.loads((run.run.path / "config.json").read_text())["columns"] == ["income"]
    run.plot(tmp_path / "density.png")
    figure = drawn[-1]
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    assert len(lines) == 2
    xs, density = (np.asarray(v, dtype=np.float64) for v in lines[0].get_data())
    # The curve is the model's density in data units: it matches log_prob on its grid, and its
    # integral over the grid is the fitted Gaussian's mass there, close to 1 for a fitted model.
    np.testing.assert_allclose(density, np.exp(run.log_prob(xs[:, None].astype(np.float32))), rtol=1e-5)
    mean = run.preprocessing.inverse(run.model.mean[None].detach()).item()
    scale = run.model.log_scale.exp().item() * (run.preprocessing.inverse(torch.ones(1, 1)) - run.preprocessing.inverse(torch.zeros(1, 1))).item()
    phi = lambda v: 0.5 * (1 + math.erf((v - mean) / (scale * math.sqrt(2))))  # noqa: E731
    assert np.trapezoid(density, xs) == pytest.approx(phi(xs[-1]) - phi(xs[0]), abs=1e-3)
    assert np.trapezoid(density, xs) == pytest.approx(1.0, abs=0.02)
    assert [ax.get_xlabel() for ax in figure.axes] == ["income", "income"]
    # Samples enough for a histogram, not the handful dotted on a 2-D heat map.
    assert sum(patch.get_height() > 0 for patch in figure.axes[1].patches) > 10


def test_a_2d_run_labels_its_axes_with_the_csv_columns_and_an_old_run_falls_back(tmp_path, drawn):
    values = np.random.default_rng(6).normal([170.0, 70.0], [10.0, 8.0], size=(1000, 2))
    data = write_csv(tmp_path / "people.csv", ["height", "weight"], values)
    run = pf.fit(data, model="test-gaussian", steps=20, out=tmp_path / "run", figures=False)
    run.plot(tmp_path / "named.png")
    panels = [ax for ax in drawn[-1].axes if ax.get_label() != "<colorbar>"]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("height", "weight")] * 2
    # A run whose config.json has no column names (or the wrong number) still loads and plots,
    # with numbered axes.
    config_path = run.run.path / "config.json"
    config = json.loads(config_path.read_text())
    for stored in (None, ["height"]):
        if stored is None:
            config.pop("columns", None)
        else:
            config["columns"] = stored
        config_path.write_text(json.dumps(config))
        old = pf.load(run.run.path)
        assert old.columns == ["x1", "x2"]
        old.plot(tmp_path / "old.png")
        panels = [ax for ax in drawn[-1].axes if ax.get_label() != "<colorbar>"]
        assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("$x_{1}$", "$x_{2}$")] * 2


# -- the validation score in the data's units -------------------------------------------------

FLOW = {"layers": "2", "hidden_features": "8", "patience": "0", "validations": "5"}


def scaled_points(folder) -> str:
    """Gaussian points with scales 100 and 10: their standardisation's log|det| is about
    −log 1000, so a likelihood in standardised units is far from one in the data's."""
    points = np.random.default_rng(0).normal(loc=[5.0, 3.0], scale=[100.0, 10.0], size=(3000, 2)).astype(np.float32)
    path = folder / "scaled.npy"
    np.save(path, points)
    return str(path)


def test_resuming_a_file_run_on_other_data_names_the_file_to_give(tmp_path):
    path = scaled_points(tmp_path)
    pf.fit(path, model="realnvp", steps=3, out=tmp_path / "run", settings=FLOW, figures=False)
    with pytest.raises(UserError, match="was fitted on scaled, not moons") as caught:
        pf.fit("moons", model="realnvp", steps=6, out=tmp_path / "run", resume=True)
    assert caught.value.fix == f"resume it with DATA = {Path(path).resolve()}"  # a path to give, not the stem
    pf.fit(Path(path).resolve(), model="realnvp", steps=6, out=tmp_path / "run", resume=True, figures=False)


def test_fit_reports_the_validation_nll_that_eval_gives_on_the_same_points(tmp_path):
    import dataclasses

    from pushforward.evaluation import evaluate_model

    fitted = pf.fit(scaled_points(tmp_path), model="realnvp", steps=12, out=tmp_path / "run", settings=FLOW, figures=False)
    result = fitted.training
    assert result.score_name == "val_nll_data" and result.keep_best
    rows = fitted.run.read_history()
    assert all("val_nll_data" in row and "val_nll" not in row for row in rows)
    best_row = next(row for row in rows if row["step"] == result.best_step)
    assert best_row["val_nll_data"] == pytest.approx(result.best_score, rel=1e-7)
    # eval's test NLL, on a data set whose test split is the validation split, of the weights
    # kept (fit leaves them in the model): the number fit reported for them.
    dataset = fitted.dataset()
    fitted._dataset = dataclasses.replace(dataset, test=dataset.validation)
    test_nll = evaluate_model(fitted, n=200, seed=0)["test_nll"]
    assert test_nll == pytest.approx(result.best_score, rel=1e-6)
    # ... which is not what the model sees: in standardised units it is about log 1000 lower.
    standardised = fitted.model.validation_score(fitted.preprocessing.forward(dataset.validation))
    assert result.best_score - standardised == pytest.approx(np.log(100.0 * 10.0), abs=0.2)
    assert json.loads((fitted.run.path / "metrics.json").read_text())["training"]["best_val_nll_data"] == pytest.approx(test_nll, rel=1e-6)


def test_only_likelihood_scores_are_reported_in_the_datas_units():
    from types import SimpleNamespace

    from pushforward.data.preprocessing import Standardize
    from pushforward.models.base import create

    points = SimpleNamespace(validation=torch.randn(50, 2))
    preprocessing = Standardize(torch.zeros(2), torch.tensor([2.0, 3.0]))
    shift = float(np.log(6.0))  # −mean log|det ∂T/∂x| = log 2 + log 3
    expected = {
        "realnvp": ("val_nll_data", shift),
        "cnf": ("val_nll_data", shift),
        "vae": ("val_elbo_nll_data", shift),  # the negative ELBO, a bound on the NLL, shifts alike
        "iwae": ("val_iwae_nll_data", shift),
        "ddpm": ("val_denoising_loss", 0.0),
        "cfm": ("val_fm_loss", 0.0),
        "gan": ("val_energy", 0.0),
    }
    for name, (score_name, score_shift) in expected.items():
        fitted = pf.FittedModel(create(name, (2,)), preprocessing, {"model": name}, _dataset=points)
        reported_name, reported_shift = fitted.validation_report()
        assert reported_name == score_name, name
        assert reported_shift == pytest.approx(score_shift, rel=1e-6), name


def test_a_run_fitted_before_data_units_shows_and_resumes_its_history_in_them(tmp_path):
    from pushforward.runs import RunDirectory

    data = scaled_points(tmp_path)
    fitted = pf.fit(data, model="realnvp", steps=8, out=tmp_path / "run", settings=FLOW, figures=False)
    name, shift = fitted.validation_report()
    new_rows = fitted.run.read_history()
    # Make it a run of the version before: its validation NLL logged standardised as val_nll,
    # and a checkpoint without the kept weights' score.
    run = RunDirectory(fitted.run.path)
    run.write_history([{**{k: v for k, v in row.items() if k != name}, "val_nll": row[name] - shift} for row in new_rows])
    tensors, meta = run.load_checkpoint()
    del meta["kept_score"], meta["kept_step"]
    run.save_checkpoint(tensors, meta)

    old = pf.load(run.path)
    shown = old.history()
    assert [row["val_nll_data"] for row in shown] == pytest.approx([row[name] for row in new_rows], rel=1e-6)
    assert "val_nll" in run.read_history()[0]  # loading and showing change nothing on disk

    resumed = pf.fit(data, model="realnvp", steps=16, out=run.path, resume=True, figures=False)
    rows = run.read_history()
    assert len(rows) > len(new_rows) and all("val_nll" not in row for row in rows)
    assert [row["val_nll_data"] for row in rows[: len(new_rows)]] == pytest.approx([row[name] for row in new_rows], rel=1e-6)
    # The best weights were chosen across the old and the new rows alike, and what is reported
    # for them is their NLL in the data's units.
    result = resumed.training
    assert result.best_score <= min(row["val_nll_data"] for row in rows) + 1e-6
    validation = resumed.dataset().validation
    assert result.best_score == pytest.approx(-float(resumed.log_prob_tensor(validation).double().mean()), rel=1e-6)


def test_plot_draws_two_chosen_columns_of_a_wide_table(tmp_path, drawn):
    values = np.random.default_rng(3).normal(size=(600, 4)) * np.array([1.0, 10.0, 100.0, 1000.0])
    data = write_csv(tmp_path / "wide.csv", ["a", "b", "c", "d"], values)
    run = pf.fit(data, model="test-gaussian", steps=30, out=tmp_path / "run", figures=False)
    run.plot(tmp_path / "cd.png", columns=["d", "b"])
    data_panel = drawn[-1].axes[0]
    assert (data_panel.get_xlabel(), data_panel.get_ylabel()) == ("d", "b")
    assert "columns d and b of 4" in drawn[-1].get_suptitle()
    # The data panel's range is that of column d, not of the first column.
    assert data_panel.get_xlim()[1] > 1000
    for bad, message in ((["d"], "2 to 8 different column names"), (["d", "d"], "2 to 8 different"), (["d", "e"], "no column 'e'"),
                         (["a", "b", "a"], "different column names")):
        with pytest.raises(UserError, match=message):
            run.plot(tmp_path / "bad.png", columns=bad)
    narrow = pf.fit(write_csv(tmp_path / "two.csv", ["a", "b"], values[:, :2]), model="test-gaussian", steps=5,
                    out=tmp_path / "narrow", figures=False)
    with pytest.raises(UserError, match="more than two columns"):
        narrow.plot(tmp_path / "n.png", columns=["b", "a"])


def test_a_wide_table_is_drawn_in_pairs_of_all_or_the_chosen_columns(tmp_path, monkeypatch):
    import pushforward.viz.pairs as pairs

    drawn = keep_saved_figures(monkeypatch, pairs)
    values = np.random.default_rng(4).normal(size=(600, 10)) * np.arange(1, 11)
    names = [f"c{i}" for i in range(10)]
    run = pf.fit(write_csv(tmp_path / "ten.csv", names, values), model="test-gaussian", steps=30, out=tmp_path / "run",
                 figures=False)
    run.plot(tmp_path / "all.png")
    axes = drawn[-1].axes
    assert len(axes) == 8 * 8 and "first 8 of 10 columns" in drawn[-1].get_suptitle()
    assert [axes[7 * 8 + j].get_xlabel() for j in range(8)] == names[:8]
    run.plot(tmp_path / "three.png", columns=["c9", "c0", "c4"])
    axes = drawn[-1].axes
    assert len(axes) == 9 and "columns c9, c0, c4 of 10" in drawn[-1].get_suptitle()
    # Column c9 (scale 10) sets the first column of panels' range, c0 (scale 1) the second's.
    assert axes[0].get_xlim()[1] > 5 * axes[4].get_xlim()[1]


def test_the_heat_map_is_coarser_for_models_whose_density_is_costly(tmp_path, monkeypatch):
    import pushforward.viz as viz
    from pushforward.models.base import COSTLY_DENSITY_GRID, get_entry

    assert COSTLY_DENSITY_GRID < 200
    for name in ("cnf", "otflow", "rectified", "ddpm", "vae", "iwae"):
        assert get_entry(name).cls.density_grid == COSTLY_DENSITY_GRID, name
    for name in ("nsf", "realnvp", "maf"):
        assert get_entry(name).cls.density_grid == 200, name
    seen = []
    monkeypatch.setattr(viz, "plot_model", lambda *args, **kwargs: seen.append(kwargs["resolution"]) or tmp_path)
    monkeypatch.setattr(get_entry("test-gaussian").cls, "density_grid", 77)
    pf.fit("checkerboard", model="test-gaussian", steps=5, out=tmp_path / "run", figures=False).plot(tmp_path / "d.png")
    assert seen == [77]  # plot asks the model


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda c: [1, 2], "is not a JSON object"),
        (lambda c: {**c, "model": "realnpv"}, "unknown model 'realnpv'"),
        (lambda c: {**c, "hyperparameters": {**c["hyperparameters"], "bogus": 3}}, "setting 'bogus'"),
        (lambda c: {**c, "hyperparameters": {**c["hyperparameters"], "layers": "abc"}}, "layers must be an integer"),
        (lambda c: {**c, "hyperparameters": "x"}, "malformed entry"),
        (lambda c: {k: v for k, v in c.items() if k != "preprocessing"}, "has no 'preprocessing'"),
    ],
)
def test_a_damaged_config_is_a_user_error_naming_the_file(fitted, tmp_path, damage, problem):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fitted.run.path, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps(damage(config)))
    with pytest.raises(UserError, match="config.json") as caught:
        pf.load(copy)
    assert problem in caught.value.problem
    assert caught.value.fix == "the run is damaged or from another version; fit it again"


@pytest.mark.parametrize("existing", [False, True])
def test_a_fit_stopped_before_it_saved_anything_leaves_no_run_behind(tmp_path, monkeypatch, existing):
    # A second Ctrl-C before the first save (or any error there) used to leave a folder with
    # only config.json: --resume found no checkpoint, and a new fit refused the folder.
    from pushforward.train.trainer import Trainer

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupted)
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        pf.fit("checkerboard", model="nsf", steps=5, out=out, settings=TINY, figures=False)
    assert out.exists() == existing and (not existing or not any(out.iterdir()))
    monkeypatch.undo()
    again = pf.fit("checkerboard", model="nsf", steps=5, out=out, settings=TINY, figures=False)
    assert (again.run.path / "model.safetensors").is_file()


def test_an_interrupted_fit_saves_the_run_without_drawing_figures(tmp_path, monkeypatch):
    import dataclasses

    from pushforward.train.trainer import Trainer

    run_training = Trainer.run

    def stopped_by_ctrl_c(self):
        return dataclasses.replace(run_training(self), status="interrupted", message="stopped by SIGINT")

    monkeypatch.setattr(Trainer, "run", stopped_by_ctrl_c)
    out = tmp_path / "run"
    stopped = pf.fit("checkerboard", model="nsf", steps=5, out=out, settings=TINY)
    assert stopped.training.status == "interrupted"
    assert (out / "model.safetensors").is_file() and not list(out.glob("**/*.png"))
    monkeypatch.undo()
    pf.fit("checkerboard", model="nsf", steps=10, out=out, resume=True)
    assert list(out.glob("figures/*.png"))


def test_a_sample_count_that_cannot_fit_in_memory_is_refused_at_once(fitted, monkeypatch):
    import pushforward.api as api

    monkeypatch.setattr(api, "_available_memory", lambda: 100_000)  # bytes
    with pytest.raises(UserError, match=r"^20,000 samples need about 0\.00032 GB of memory, and 0\.0001 GB are available; ask for fewer"):
        fitted.sample(20_000)
    assert fitted.sample(1000).shape == (1000, 2)
    monkeypatch.setattr(api, "_available_memory", lambda: None)  # unknown: no check
    assert fitted.sample(20_000).shape == (20_000, 2)


def test_a_damaged_metrics_file_is_refused_before_evaluating_or_resuming(fitted, tmp_path, monkeypatch):
    import shutil

    import pushforward.evaluation as evaluation

    copy = tmp_path / "copy"
    shutil.copytree(fitted.run.path, copy)
    (copy / "metrics.json").write_text('{"training": ')

    def never(*args, **kwargs):
        raise AssertionError("evaluated before the damaged metrics.json was noticed")

    monkeypatch.setattr(evaluation, "evaluate_model", never)
    with pytest.raises(UserError, match=r"metrics\.json' is not valid JSON .*; delete metrics\.json .*the model is intact"):
        pf.load(copy).evaluate()
    with pytest.raises(UserError, match=r"metrics\.json' is not valid JSON"):
        pf.fit("checkerboard", model="nsf", steps=80, out=copy, resume=True, figures=False)
    assert not (copy / ".pushforward.lock").exists()


@pytest.mark.parametrize("damage", [lambda c: {k: v for k, v in c.items() if k != "budget"}, lambda c: {**c, "train": "x"}])
def test_resuming_a_run_whose_config_lacks_a_training_entry_is_a_user_error(fitted, tmp_path, damage):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fitted.run.path, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps(damage(config)))
    with pytest.raises(UserError, match=r"config\.json' has a missing or malformed entry .*cannot be resumed"):
        pf.fit("checkerboard", model="nsf", steps=80, out=copy, resume=True, figures=False)


RESUMABLE = {"n_train": "1000", "n_validation": "200", "n_test": "200", "patience": "0"}


def test_a_budget_given_on_resume_replaces_the_saved_one_of_either_kind(tmp_path):
    out = tmp_path / "run"
    first = pf.fit("moons", model="test-gaussian", time=0.5, out=out, settings=RESUMABLE, figures=False)
    assert first.training.status == "completed"
    done = first.training.steps
    # Its 0.5 s are spent: had the saved time limit stayed beside the new step budget, this
    # resume could not take a single step.
    again = pf.fit("moons", model="test-gaussian", steps=done + 40, out=out, resume=True, figures=False)
    assert again.training.status == "completed" and again.training.steps == done + 40
    assert json.loads((out / "config.json").read_text())["budget"] == {"seconds": None, "steps": done + 40}
    # And the other way round: a time replaces the step budget, and counts the whole run's
    # seconds, those before this resume included.
    elapsed = again.training.seconds
    third = pf.fit("moons", model="test-gaussian", time=elapsed + 0.5, out=out, resume=True, figures=False)
    assert third.training.status == "completed" and third.training.steps > done + 40
    assert elapsed + 0.5 <= third.training.seconds < elapsed + 3.5
    assert json.loads((out / "config.json").read_text())["budget"] == {"seconds": elapsed + 0.5, "steps": None}
    # No budget given: the saved one stands, and it is spent.
    with pytest.raises(UserError, match=r"already used its budget \(--time [0-9.]+\): it has trained"):
        pf.fit("moons", model="test-gaussian", out=out, resume=True, figures=False)


def test_resuming_removes_the_temporary_files_of_the_runs_writes_killed_outright(tmp_path):
    out = tmp_path / "run"
    pf.fit("moons", model="test-gaussian", steps=10, out=out, settings=RESUMABLE, figures=False)
    # As a SIGKILL during the run's checkpoint and history writes leaves them, beside a user's file.
    leftovers = [out / ".checkpoint.safetensors.abcdefgh.tmp", out / ".history.csv.x_1y2z3w.tmp"]
    mine = out / ".notes.txt.abcdefgh.tmp"
    for path in [*leftovers, mine]:
        path.write_bytes(b"half")
    resumed = pf.fit("moons", model="test-gaussian", steps=20, out=out, resume=True, figures=False)
    assert resumed.training.steps == 20
    assert [path for path in leftovers if path.exists()] == []
    assert mine.read_bytes() == b"half"


def test_evaluate_and_figures_into_the_run_are_refused_while_another_process_holds_it(tmp_path):
    import socket
    import subprocess
    import sys

    out = tmp_path / "run"
    pf.fit("moons", model="test-gaussian", steps=10, out=out, settings=RESUMABLE, figures=False)
    run = pf.load(out)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (out / ".pushforward.lock").write_text(f"{other.pid} {socket.gethostname()} fitted\n")
        with pytest.raises(UserError, match=r"is being fitted by another pushforward .*; wait for it to finish"):
            run.evaluate(n=100)
        with pytest.raises(UserError, match=r"is being fitted by another pushforward"):
            run.plot()  # figures/density.png
        assert "evaluation" not in json.loads((out / "metrics.json").read_text())
        assert not (out / "figures" / "density.png").exists()
        assert run.plot(tmp_path / "elsewhere.png").is_file()  # only reads the run
    finally:
        other.kill()
        other.wait()
    assert "test_nll" in run.evaluate(n=100)
    assert not (out / ".pushforward.lock").exists()


def test_fit_refuses_an_unknown_data_set_before_importing_the_model_families(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, pushforward as pf\n"
            "try:\n    pf.fit('nosuchdata', model='nsf')\nexcept pf.UserError as error:\n    print(error)\n"
            "print([name for name in sys.modules if name.startswith('pushforward.models.') and name.count('.') == 2])")
    env = {"PYTHONPATH": str(Path(pf.__file__).parents[1]), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    refusal, families = result.stdout.strip().splitlines()
    assert refusal.startswith("unknown data set 'nosuchdata'; choose one of: checkerboard"), result.stderr
    assert families == "['pushforward.models.base']"  # none of the five families' packages
