"""The command line end to end on tiny budgets, and every bad input the foundation names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pushforward.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None), so a new empty folder counts as a change."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def nsf_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cb"
    code = main(["fit", "checkerboard", "--model", "nsf", "--steps", "40", "--out", str(out), "--no-progress",
                 "--set", "n_train=5000", "--set", "n_test=2000", "--set", "layers=2", "--set", "hidden_features=16"])
    assert code == 0
    return out


def test_fit_writes_a_complete_run(nsf_run):
    names = {p.name for p in nsf_run.iterdir()}
    assert {"config.json", "model.safetensors", "history.csv", "metrics.json", "figures", "checkpoint.safetensors"} <= names
    assert (nsf_run / "figures" / "density.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((nsf_run / "config.json").read_text())
    assert config["model"] == "nsf" and config["hyperparameters"]["layers"] == 2
    assert json.loads((nsf_run / "metrics.json").read_text())["training"]["steps"] == 40
    assert not list(nsf_run.rglob("*.pkl")) and not list(nsf_run.rglob("*.pt"))


def test_eval_refuses_too_few_samples_for_its_metrics_in_one_line(capsys, nsf_run):
    before = snapshot(nsf_run)
    code, out, err = run_cli(capsys, "eval", nsf_run, "--n", "3")
    assert code == 2 and out == ""
    assert err.strip() == "error: --n is 3, and precision/recall need more than k = 5 samples; evaluate with at least 6 samples (default 10000)"
    assert snapshot(nsf_run) == before


def test_eval_json_has_the_promised_keys(capsys, nsf_run):
    code, out, _ = run_cli(capsys, "eval", nsf_run, "--n", "500", "--json")
    assert code == 0
    results = json.loads(out)
    assert {"test_nll", "kl_gap", "energy_distance", "energy_floor"} <= set(results)
    assert results["kl_gap"] == pytest.approx(results["test_nll"] - np.log(32), abs=1e-9)
    assert results["energy_distance"] > 0 and results["energy_floor"] > 0
    assert results["warnings"] == []


def test_sample_to_npy_and_csv(capsys, nsf_run, tmp_path):
    assert run_cli(capsys, "sample", nsf_run, "-n", "300", "-o", tmp_path / "s.npy", "--seed", "3")[0] == 0
    assert np.load(tmp_path / "s.npy").shape == (300, 2)
    assert run_cli(capsys, "sample", nsf_run, "-n", "20", "-o", tmp_path / "s.csv")[0] == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "x1,x2" and len(lines) == 21


def test_plot_and_explore(capsys, nsf_run, tmp_path):
    assert run_cli(capsys, "plot", nsf_run, "-o", tmp_path / "d.png")[0] == 0
    assert (tmp_path / "d.png").stat().st_size > 1000
    assert run_cli(capsys, "explore", "2*z + 1", "-o", tmp_path / "e.png", "--n", "2000")[0] == 0
    assert run_cli(capsys, "explore", "--random-net", "-o", tmp_path / "r.png", "--n", "2000")[0] == 0
    assert (tmp_path / "r.png").exists()


def test_explore_says_where_the_map_is_undefined(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "explore", "(z1, log(z2))", "-o", tmp_path / "log.png", "--n", "2000")
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: f is undefined (NaN or ±inf) on ")
    code, out, _ = run_cli(capsys, "explore", "exp(z)", "-o", tmp_path / "exp.png", "--n", "2000")
    assert code == 0 and "warning" not in out
    code, _, err = run_cli(capsys, "explore", "log(-z**2)", "-o", tmp_path / "none.png", "--n", "2000")
    assert code == 2 and err.count("\n") == 1 and "undefined" in err and not (tmp_path / "none.png").exists()


def test_listing_commands(capsys):
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0 and "checkerboard" in out and "3.4657" in out
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and all(name in out for name in ("realnvp", "maf", "nsf"))


def test_python_dash_m_runs_the_same_cli(capsys, monkeypatch):
    import runpy

    monkeypatch.setattr(sys, "argv", ["pushforward", "datasets"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("pushforward", run_name="__main__")
    assert exit_.value.code in (0, None) and "checkerboard" in capsys.readouterr().out


def test_fit_on_a_csv_keeps_its_columns_and_units(capsys, tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(loc=[100.0, -3.0], scale=[20.0, 0.1], size=(400, 2))
    lines = ["height,weight"] + [f"{a},{b}" for a, b in values]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert run_cli(capsys, "fit", tmp_path / "t.csv", "--model", "realnvp", "--steps", "20", "--out", out,
                   "--set", "layers=2", "--set", "hidden_features=8")[0] == 0
    assert run_cli(capsys, "sample", out, "-n", "200", "-o", tmp_path / "s.csv")[0] == 0
    header, *rows = (tmp_path / "s.csv").read_text().splitlines()
    assert header == "height,weight"
    samples = np.array([[float(v) for v in row.split(",")] for row in rows])
    assert abs(samples[:, 0].mean() - 100) < 15 and samples[:, 1].std() < 1.0  # back in data units


def test_fit_warns_once_about_a_column_of_few_values(capsys, tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{h},{int(s)}" for h, s in zip(rng.normal(170, 10, 300), rng.random(300) < 0.3)]
    (tmp_path / "flags.csv").write_text("height,smoker\n" + "\n".join(rows) + "\n")
    code, out, err = run_cli(capsys, "fit", tmp_path / "flags.csv", "--model", "test-gaussian", "--steps", "5", "--out", tmp_path / "run")
    assert code == 0 and "run saved in" in out
    warnings = [line for line in (out + err).splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, out + err
    assert warnings[0].startswith("warning: column 'smoker' has only 2 distinct values: a likelihood there mixes point masses")
    assert "dequantise it" in warnings[0] and "model it apart" in warnings[0]
    (tmp_path / "smooth.csv").write_text("height,weight\n" + "\n".join(f"{a},{b}" for a, b in rng.normal(size=(300, 2))) + "\n")
    code, out, err = run_cli(capsys, "fit", tmp_path / "smooth.csv", "--model", "test-gaussian", "--steps", "5", "--out", tmp_path / "run2")
    assert code == 0 and "warning" not in out + err


def test_resume_continues_an_interrupted_run(capsys, tmp_path):
    out = tmp_path / "run"
    # Standardised data already suit the initial Gaussian, so early stopping is turned off.
    assert run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "30", "--out", out,
                   "--set", "n_train=1000", "--set", "n_test=200", "--set", "patience=0")[0] == 0
    code, _, err = run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--out", out, "--resume")
    assert code == 2 and "already used its budget" in err
    code, out_text, _ = run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "50", "--out", out, "--resume")
    assert code == 0 and "50 steps" in out_text
    assert "best val_nll_data " in out_text  # a likelihood, in the data's units
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 50


def test_resume_refuses_another_seed_and_force(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "10", "--seed", "3", "--out", out,
                   "--set", "n_train=1000", "--set", "n_test=200", "--set", "patience=0")[0] == 0
    code, _, err = run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "20", "--seed", "5", "--out", out, "--resume")
    assert code == 2 and err.strip() == f"error: '{out}' was fitted with --seed 3, not 5; resume it without --seed (or with --seed 3)"
    code, _, err = run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "20", "--out", out, "--resume", "--force")
    assert code == 2 and "--resume continues the run in --out and --force replaces it; drop one of them" in err
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 10
    code, text, _ = run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "20", "--seed", "3", "--out", out, "--resume")
    assert code == 0 and "20 steps" in text


@pytest.fixture
def another_process():
    """A live process that is not this one, to hold a run's lock as another pushforward would."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def hold(run: Path, process, doing: str | None = None) -> None:
    """Write ``run``'s lock as ``process`` holding it (a fit of an earlier version: no ``doing``)."""
    import socket

    (run / ".pushforward.lock").write_text(f"{process.pid} {socket.gethostname()}" + (f" {doing}" if doing else "") + "\n")


def test_eval_and_plot_into_the_run_are_refused_while_a_fit_holds_it(capsys, tmp_path, another_process, monkeypatch):
    run = tmp_path / "run"
    assert run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "10", "--out", run,
                   "--set", "n_train=1000", "--set", "n_test=200", "--set", "patience=0")[0] == 0
    hold(run, another_process)
    before = snapshot(run)
    code, out, err = run_cli(capsys, "eval", run, "--n", "100")
    assert code == 2 and out == "" and err.strip() == (
        f"error: '{run}' is being fitted by another pushforward (process {another_process.pid}); wait for it to finish "
        f"(if no pushforward is running there, delete '{run / '.pushforward.lock'}')")
    code, _, err = run_cli(capsys, "plot", run)
    assert code == 2 and "is being fitted by another pushforward" in err and "outside the run with -o FILE" in err
    code, _, err = run_cli(capsys, "plot", run, "-o", run / "figures" / "mine.png")
    assert code == 2 and "is being fitted by another pushforward" in err
    assert snapshot(run) == before  # metrics.json, figures and the lock as the fit left them
    # A figure written elsewhere, and samples, only read the run.
    assert run_cli(capsys, "plot", run, "-o", tmp_path / "elsewhere.png")[0] == 0
    assert run_cli(capsys, "sample", run, "-n", "10", "-o", tmp_path / "s.npy")[0] == 0
    assert snapshot(run) == before
    # An eval holds the run in turn: a fit (--resume) meanwhile is told what is going on.
    hold(run, another_process, "evaluated")
    code, _, err = run_cli(capsys, "fit", "moons", "--model", "test-gaussian", "--steps", "20", "--out", run, "--resume")
    assert code == 2 and f"'{run}' is being evaluated by another pushforward (process {another_process.pid}); wait for it to finish or choose another --out" in err
    # Once the holder is gone, eval takes the lock, writes its results and lets it go, even
    # when the evaluation fails.
    another_process.kill()
    another_process.wait()
    assert run_cli(capsys, "eval", run, "--n", "100", "--json")[0] == 0
    assert "evaluation" in json.loads((run / "metrics.json").read_text())
    assert not (run / ".pushforward.lock").exists()
    import pushforward.evaluation as evaluation
    from pushforward.errors import UserError

    def fails(*args, **kwargs):
        raise UserError("no evaluation today", "try tomorrow")

    monkeypatch.setattr(evaluation, "evaluate_model", fails)
    assert run_cli(capsys, "eval", run)[0] == 2
    assert not (run / ".pushforward.lock").exists()


@pytest.mark.parametrize(("command", "data", "model", "problem"), [
    ("fit", "nosuchdata", "nsf", "unknown data set 'nosuchdata'"),
    ("fit", "missing.csv", "nsf", "data file 'missing.csv' does not exist"),
    ("fit", "checkerboard", "nosuchmodel", "unknown model 'nosuchmodel'"),
    ("compare", "nosuchdata", "nsf", "unknown data set 'nosuchdata'"),
    ("compare", "checkerboard", "nsf,nosuchmodel", "unknown model 'nosuchmodel'"),
])
def test_fit_and_compare_refuse_an_unknown_data_set_or_model_before_importing_torch(tmp_path, command, data, model, problem):
    # A fresh process, as the command is run: a mistyped name is refused in one line before
    # torch and the model families are imported (about 6 s, where the refusal takes 0.5 s).
    import pushforward

    option = "--model" if command == "fit" else "--models"
    code = (f"import sys; from pushforward.cli import main; code = main([{command!r}, {data!r}, {option!r}, {model!r}]); "
            "print(code, 'torch' in sys.modules)")
    env = {"PYTHONPATH": str(Path(pushforward.__file__).parents[1]), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert result.stderr.startswith(f"error: {problem}") and len(result.stderr.strip().splitlines()) == 1


def test_an_interrupted_fit_still_says_what_its_weights_lack(capsys, tmp_path, monkeypatch):
    # A GAN stopped before its calibration samples its raw generator: fit says so, also when
    # the stop was a Ctrl-C (it used to exit before the warnings).
    import os
    import signal
    import threading

    from pushforward.train.trainer import Trainer

    run_training = Trainer.run

    def stopped_after_a_second(self):
        timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
        timer.start()
        try:
            return run_training(self)  # the trainer catches SIGTERM while it runs
        finally:
            timer.join()

    monkeypatch.setattr(Trainer, "run", stopped_after_a_second)
    code, out, _ = run_cli(capsys, "fit", "25gaussians", "--model", "gan", "--steps", "1000000", "--out", tmp_path / "run")
    assert code == 130 and "stopped by SIGTERM" in out and "--resume" in out
    assert len([line for line in out.splitlines() if line.startswith("warning: ") and "never calibrated" in line]) == 1


def test_a_ctrl_c_outside_training_says_interrupted(capsys, tmp_path, monkeypatch):
    import pushforward.api as api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "load", interrupted)
    (tmp_path / "config.json").write_text("{}")  # a run folder, which eval holds while it loads
    code, out, err = run_cli(capsys, "eval", tmp_path)
    assert code == 130 and err.strip() == "interrupted" and out == ""
    assert not (tmp_path / ".pushforward.lock").exists()


def test_demo_compares_the_families_and_ends_with_the_report(capsys, tmp_path, monkeypatch):
    import pushforward.comparison as comparison
    import pushforward.viz.model_figure as model_figure
    from pushforward.comparison import demo_models

    monkeypatch.chdir(tmp_path)
    # This test is about the demo's course (plan, runs, report, refusal), not its numbers or
    # pictures: small splits, few evaluation samples and a coarse density grid take most of its
    # time away (the log-densities of 20,000 test points and 40,000 grid points for each of the
    # five families cost about two of its two and a half minutes on one thread; drawing a
    # million training points and validating on 20,000 for each run, and evaluating on 300
    # samples rather than 100, a quarter of what was left).
    monkeypatch.setattr(comparison, "DEMO_SETTINGS", {"n_train": 5000, "n_validation": 1000, "n_test": 600})
    fine_grid = model_figure.density_on_grid

    def coarse_grid(log_prob, bounds, **options):
        return fine_grid(log_prob, bounds, **{**options, "resolution": 24})

    monkeypatch.setattr(model_figure, "density_on_grid", coarse_grid)
    code, out, _ = run_cli(capsys, "demo", "--time", "2", "--n", "100")
    assert code == 0
    reports = list((tmp_path / "runs" / "demo").glob("*/report.html"))
    assert len(reports) == 1
    assert out.strip().splitlines()[-1].endswith(str(reports[0].relative_to(tmp_path)))
    assert "demo plan: " in out
    names, _ = demo_models()
    assert {p.name for p in reports[0].parent.iterdir()} >= {f"{name}-seed0" for name in names}
    # A second demo goes to a new directory; an explicit existing --out is refused.
    assert run_cli(capsys, "demo", "--time", "2", "--out", reports[0].parent)[0] == 2


def test_python_warnings_print_as_one_line_each_once(capsys, monkeypatch):
    import warnings

    import pushforward.cli as cli

    def command(**_: object) -> int:
        for _ in range(2):  # the same problem twice (e.g. two figures sampling an uncalibrated GAN)
            warnings.warn("the sampler was never calibrated; fit with a budget it can finish", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "app", command)
    code, out, err = run_cli(capsys)
    assert code == 0 and out == ""
    assert err.splitlines() == ["warning: the sampler was never calibrated; fit with a budget it can finish"]


def test_console_script_entry_point(tmp_path):
    script = Path(sys.executable).with_name("pushforward")
    # Bad input that a command refuses before it imports torch and the model families (1 s, not
    # the 9 to 18 s of an unknown data set, which `fit` checks after loading every model): the
    # script's wiring to main, its one-line errors and exit codes are what is tested here; each
    # refusal has its own test in-process (BAD_INPUTS).
    result = subprocess.run([str(script), "compare", "checkerboard", "--set", "lr"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --set takes key=value, not 'lr'; write it as --set lr=3e-4"
    assert "Traceback" not in result.stderr



# -- a run fitted before a check of its data existed -------------------------------------------

FITTED_BEFORE_A_CHECK = [
    ("a,a", [(i, (7 * i) % 31) for i in range(200)], "header names two columns 'a' (columns 1 and 2)",
     "give every column its own name"),
    ("epoch_s,v", [(1.7e9 + (37 * i) % 101, i) for i in range(200)], "column 'epoch_s' cannot be held in float32",
     "subtract an offset (e.g. epoch_s - 1700000050) or rescale the column"),
]


@pytest.mark.parametrize("header,rows,problem,fix", FITTED_BEFORE_A_CHECK, ids=["twins", "epoch"])
def test_a_run_fitted_before_a_check_existed_evaluates_and_plots_with_one_warning(capsys, tmp_path, monkeypatch, header, rows, problem, fix):
    import functools

    import pushforward.api as api
    from pushforward.data.source import load_dataset

    data, run = tmp_path / "data.csv", tmp_path / "run"
    data.write_text(header + "\n" + "".join(f"{a!r},{b!r}\n" for a, b in rows))
    # The fit of an earlier version, which did not check this: it read the file as the data
    # of an existing run are read now, everything else as fit does.
    with monkeypatch.context() as earlier:
        earlier.setattr(api, "load_dataset", functools.partial(load_dataset, existing_run=True))
        api.fit(data, model="test-gaussian", steps=5, out=run, figures=False)

    def one_warning(err: str) -> str:
        lines = [line for line in err.splitlines() if line.startswith("warning: ")]
        assert len(lines) == 1, err
        assert problem in lines[0] and f"`fit` refuses such data now ({fix})" in lines[0]
        return lines[0].removeprefix("warning: ")

    code, text, err = run_cli(capsys, "eval", run, "--n", "100", "--json")
    assert code == 0, err
    note = one_warning(err)
    results = json.loads(text)
    assert np.isfinite(results["test_nll"]) and note in results["warnings"]
    assert note in json.loads((run / "metrics.json").read_text())["evaluation"]["warnings"]
    code, out, err = run_cli(capsys, "plot", run)
    assert code == 0 and one_warning(err) == note
    assert (run / "figures" / "density.png").read_bytes()[:4] == b"\x89PNG" and (run / "figures" / "history.png").exists()
    # A new fit on the file is still refused, and so is resuming the run, which trains on.
    before = snapshot(tmp_path)
    for args in (["--out", tmp_path / "new"], ["--out", run, "--resume"]):
        code, _, err = run_cli(capsys, "fit", data, "--model", "test-gaussian", "--steps", "10", *args)
        assert code == 2 and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: '{data}' {problem}") and err.rstrip().endswith(fix)
    assert snapshot(tmp_path) == before


# -- bad input: one line, exit 2, no traceback, nothing changed --------------------------------


def write_bad_files(folder: Path) -> None:
    (folder / "letters.csv").write_text("a,b\n" + "1,2\n" * 10 + "x,2\n")
    np.save(folder / "cube.npy", np.zeros((20, 2, 2)))
    (folder / "nan.csv").write_text("a,b\n" + "1,2\n" * 10 + "nan,2\n")
    (folder / "holes.csv").write_text("a,b\n" + "1,2\n" * 5 + "\n3,\n" + "1,2\n" * 5)
    (folder / "twins.csv").write_text("a,a\n" + "".join(f"{i},{i * i}\n" for i in range(12)))
    (folder / "epoch.csv").write_text("epoch_s,v\n" + "".join(f"{1.7e9 + (37 * i) % 101},{i}\n" for i in range(40)))
    (folder / "huge.csv").write_text("big,v\n" + "".join(f"{1e39 * (1 + i / 100)},{i}\n" for i in range(20)))
    (folder / "taken.npy").write_bytes(b"precious")
    (folder / "taken.png").write_bytes(b"precious")
    (folder / "norun").mkdir()
    (folder / "damaged").mkdir()
    (folder / "damaged" / "config.json").write_text("{oops")


BAD_INPUTS = [
    (["fit", "checkerbord", "--steps", "1"], "unknown data set 'checkerbord'; did you mean 'checkerboard'"),
    (["fit", "checkerboard", "--model", "nsff", "--steps", "1"], "unknown model 'nsff'; did you mean 'nsf'"),
    (["fit", "{dir}/letters.csv", "--steps", "1"], "'x' is not a number"),
    (["fit", "{dir}/cube.npy", "--steps", "1"], "expected rows of numbers"),
    (["fit", "{dir}/nan.csv", "--steps", "1"], "1 NaN or infinite value (the first at line 12, column 'a')"),
    (["fit", "{dir}/twins.csv", "--steps", "1"], "header names two columns 'a' (columns 1 and 2); give every column its own name"),
    (["fit", "{dir}/epoch.csv", "--steps", "1"], "column 'epoch_s' cannot be held in float32"),
    (["fit", "{dir}/epoch.csv", "--steps", "1"], "subtract an offset (e.g. epoch_s - 1700000050) or rescale the column"),
    (["fit", "{dir}/huge.csv", "--steps", "1"], "column 'big' has values beyond float32's range"),
    (["fit", "{dir}/holes.csv", "--steps", "1"], "1 missing value (empty cells or markers such as NA; the first at line 8, column 'b'); remove or impute"),
    (["fit", "{dir}/missing.csv", "--steps", "1"], "does not exist"),
    (["fit", "checkerboard", "--steps", "1", "--set", "hiden_features=3"], "unknown setting 'hiden_features'"),
    (["fit", "checkerboard", "--steps", "1", "--set", "nsf.layers=4"], "setting 'nsf.layers' names its model, as only compare's settings do; use --set layers=4"),
    (["fit", "checkerboard", "--steps", "1", "--set", "bins=many"], "bins must be an integer"),
    (["fit", "checkerboard", "--steps", "1", "--set", "bins=1"], "bins must be an integer >= 2"),
    (["fit", "checkerboard", "--steps", "1", "--set", "lr=-1"], "lr must be a positive number, not -1.0"),
    (["fit", "checkerboard", "--steps", "1", "--set", "lr=nan"], "lr must be a positive number, not nan"),
    (["fit", "checkerboard", "--steps", "1", "--out", ""], "empty argument after --out"),
    (["fit", "checkerboard", "--time", "inf"], "--time must be positive and finite, not inf"),
    (["fit", "checkerboard", "--steps", "1", "--out="], "empty value in '--out='"),
    (["explore", "2*z", "--n", "200", "-o", "{dir}/letters.csv/e.png"], "letters.csv' is a file, not a folder"),
    (["plot", "{dir}/letters.csv"], "is a file, not a run directory"),
    (["fit", "checkerboard", "--steps", "1", "--set", "lr=inf"], "lr must be a positive number, not inf"),
    (["fit", "checkerboard", "--steps", "1", "--set", "lr"], "--set takes key=value"),
    (["fit", "checkerboard", "--steps", "0"], "--steps must be at least 1"),
    (["fit", "checkerboard", "--steps", "1", "--out", "{dir}/damaged"], "already exists"),
    (["eval", "{dir}/nothing-here"], "does not exist"),
    (["eval", "{dir}/norun"], "not a run directory"),
    (["sample", "{dir}/damaged", "-n", "5", "-o", "{dir}/new.npy"], "not valid JSON"),
    (["sample", "{dir}/norun", "-n", "5", "-o", "{dir}/taken.npy"], "already exists"),
    (["sample", "{dir}/norun", "-n", "5", "-o", "{dir}/out.txt"], "unsupported file type"),
    (["sample", "{dir}/norun", "-n", "5", "-o", "{dir}/norun"], "norun' is a folder, not a file; give a file name, e.g. "),
    (["plot", "{dir}/norun", "-o", "{dir}/norun/"], "norun' is a folder, not a file; give a file name, e.g. "),
    (["plot", "{dir}/norun", "-o", "{dir}/taken.png"], "already exists"),
    (["explore", "__import__('os')", "-o", "{dir}/e.png"], "error"),
    (["explore", "exp(z)", "-o", "{dir}/taken.png"], "already exists"),
    (["fit"], "Missing argument"),
    (["fit", "checkerboard", "--steps", "many"], "Invalid value for '--steps'"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_bad_files(tmp_path)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, *[a.format(dir=tmp_path) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before


# -- VAEs and diffusion through the same commands -------------------------------------------------

TINY = ["--set", "n_train=3000", "--set", "n_validation=500", "--set", "n_test=600", "--set", "hidden_features=16"]


@pytest.mark.parametrize(
    "model, extra",
    [
        ("vae", ["--set", "eval_samples=16", "--set", "prior_components=4"]),
        ("iwae", ["--set", "eval_samples=16", "--set", "train_samples=2"]),
        ("ddpm", ["--set", "ode_rtol=1e-3", "--set", "ode_atol=1e-3", "--set", "sampler_steps=5", "--set", "hidden_layers=1"]),
    ],
)
def test_vae_iwae_ddpm_fit_sample_eval_plot(capsys, tmp_path, monkeypatch, model, extra):
    import functools

    import pushforward.viz.model_figure as model_figure
    import pushforward.viz.trajectories as trajectories
    from pushforward.api import FittedModel

    # The figures are checked for being written, not for their detail: a coarse density grid
    # and a GIF of 3 frames rather than 25 (each frame an ODE solve per grid point) took the
    # ddpm walk from 52 s to 14 s alone on the loaded 2-core machine (the iwae one 18 s to 12 s).
    fine_grid = model_figure.density_on_grid

    def coarse_grid(log_prob, bounds, **options):
        return fine_grid(log_prob, bounds, **{**options, "resolution": 24})

    monkeypatch.setattr(model_figure, "density_on_grid", coarse_grid)
    monkeypatch.setattr(trajectories, "density_on_grid", coarse_grid)
    monkeypatch.setattr(FittedModel, "animate", functools.partialmethod(FittedModel.animate, frames=3))
    out = tmp_path / model
    code, fit_text, err = run_cli(capsys, "fit", "checkerboard", "--model", model, "--steps", "20", "--out", out, "--no-progress", *TINY, *extra)
    assert code == 0, err
    # A VAE says the decoder-noise scale it chose on the validation split; ddpm chooses nothing.
    assert ("sampling: decoder_noise_scale " in fit_text) == (model != "ddpm")
    assert (out / "figures" / "density.png").exists()
    assert (out / "figures" / "latent.png").exists() == (model != "ddpm")
    code, text, err = run_cli(capsys, "eval", out, "--n", "300", "--json")
    assert code == 0, err
    results = json.loads(text)
    assert np.isfinite(results["test_nll"]) and results["energy_ratio"] > 0 and 0 <= results["outside_support"] <= 1
    if model == "ddpm":
        assert results["test_nll_kind"] == "exact" and results["nfe_log_prob"] > 0
        # Its probability-flow ODE gives the continuous flows' pictures too.
        assert run_cli(capsys, "plot", out, "--trajectories", "-o", tmp_path / "paths.png")[0] == 0
        assert run_cli(capsys, "plot", out, "--animate", tmp_path / "p_s.gif")[0] == 0
        assert (tmp_path / "paths.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "p_s.gif").read_bytes()[:3] == b"GIF"
        from PIL import Image

        with Image.open(tmp_path / "p_s.gif") as gif:
            assert gif.n_frames == 3  # the frames asked for, each drawn
    else:
        assert results["test_nll_kind"] == "estimate"
        assert results["test_nll_estimate"] == results["test_nll"] and results["test_nll_estimate_samples"] == 16
        assert 0 <= results["active_latent_dimensions"] <= results["latent_dimensions"]
        assert len(results["latent_mean_variances"]) == results["latent_dimensions"]
        # The tiny run's validation split has 500 points, all of which the calibration uses.
        assert 1 / 16 <= results["decoder_noise_scale"] <= 4 and results["decoder_noise_scale_points"] == 500
    assert run_cli(capsys, "sample", out, "-n", "50", "-o", tmp_path / "s.npy", "--seed", "1")[0] == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    code, text, _ = run_cli(capsys, "plot", out, "-o", tmp_path / "p.png")
    assert code == 0 and (tmp_path / "p.png").exists()
    assert (tmp_path / "p-latent.png").exists() == (model != "ddpm")


def test_decoder_mean_samples_and_save_load_round_trip(capsys, tmp_path):
    from pushforward.api import load

    out = tmp_path / "vae"
    args = ["fit", "checkerboard", "--model", "vae", "--steps", "10", "--out", out, "--no-progress", *TINY, "--set", "eval_samples=8"]
    assert run_cli(capsys, *args)[0] == 0
    assert run_cli(capsys, "sample", out, "-n", "40", "-o", tmp_path / "m.npy", "--decoder-mean", "--seed", "2")[0] == 0
    first, second = load(out), load(out)
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), first.sample(40, seed=2, mean=True))
    np.testing.assert_array_equal(first.sample(30, seed=5), second.sample(30, seed=5))
    assert not np.array_equal(first.sample(30, seed=5), first.sample(30, seed=5, mean=True))


def test_fit_prints_the_models_warnings_as_single_lines(capsys, tmp_path, monkeypatch):
    from pushforward.models.vae.model import VAE

    monkeypatch.setattr(VAE, "warnings", lambda self, diagnostics: ["only 1 of 2 latent dimensions are active; refit"])
    out = tmp_path / "vae"
    code, stdout, _ = run_cli(capsys, "fit", "checkerboard", "--model", "vae", "--steps", "3", "--out", out, "--no-progress", *TINY)
    assert code == 0
    assert "warning: only 1 of 2 latent dimensions are active; refit" in stdout.splitlines()
    assert (out / "config.json").exists()


def test_ddpm_save_load_round_trip(capsys, tmp_path):
    from pushforward.api import load

    out = tmp_path / "ddpm"
    args = ["fit", "checkerboard", "--model", "ddpm", "--steps", "10", "--out", out, "--no-progress", *TINY, "--set", "sampler_steps=4"]
    assert run_cli(capsys, *args)[0] == 0
    first, second = load(out), load(out)
    np.testing.assert_array_equal(first.sample(30, seed=5), second.sample(30, seed=5))
    points = first.dataset().test[:20]
    np.testing.assert_allclose(first.log_prob(points), second.log_prob(points), rtol=0, atol=1e-6)
    code, _, err = run_cli(capsys, "sample", out, "-n", "5", "-o", tmp_path / "x.npy", "--decoder-mean")
    assert code == 2 and "decoder mean" in err and not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize(
    "model, setting, words",
    [
        ("ddpm", ["sampler_steps=0"], "at least 1 step"),
        ("ddpm", ["noise_schedule=linear", "timesteps=100"], "alpha_bar_T"),
        ("ddpm", ["noise_schedule=cosine", "beta_end=0.05"], "error: beta_end is read only by the linear noise schedule, and noise_schedule is cosine; drop --set beta_end, or use --set noise_schedule=linear"),
        ("vae", ["latent_features=0"], "latent_features"),
        ("vae", ["eval_samples=0"], "eval_samples"),
        ("iwae", ["train_samples=0"], "train_samples"),
        ("ddpm", ["points_per_level=0"], "points_per_level must be an integer >= 1"),
        ("ddpm", ["reference_points=0"], "reference_points must be an integer >= 1"),
        ("rectified", ["points_per_level=0"], "points_per_level"),
    ],
)
def test_bad_vae_and_diffusion_settings_exit_2_and_write_nothing(capsys, tmp_path, model, setting, words):
    before = snapshot(tmp_path)
    settings = [part for item in setting for part in ("--set", item)]
    code, _, err = run_cli(capsys, "fit", "checkerboard", "--model", model, "--steps", "5", "--out", tmp_path / "run", *settings)
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err
    assert snapshot(tmp_path) == before
