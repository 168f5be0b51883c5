"""Every continuous model through the command line on tiny budgets: fit, eval (with NFE), load,
trajectories and animation; bad solver settings fail before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import pushforward as pf
from pushforward.cli import main

TINY = ["--set", "n_train=2000", "--set", "n_validation=300", "--set", "n_test=300", "--set", "hidden_features=8",
        "--set", "solver=rk4", "--set", "steps=2"]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def otflow_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ot"
    assert main(["fit", "checkerboard", "--model", "otflow", "--steps", "5", "--out", str(out), "--no-progress", *TINY]) == 0
    return out


@pytest.mark.parametrize("name", ["cnf", "otflow", "cfm", "otcfm", "rectified"])
def test_each_model_fits_evaluates_and_reloads(capsys, tmp_path, name):
    out = tmp_path / name
    extra = ["--set", "train_steps=2"] if name == "otflow" else []
    extra += ["--set", "train_solver=rk4", "--set", "train_steps=2"] if name == "cnf" else []
    code, text, err = run_cli(capsys, "fit", "checkerboard", "--model", name, "--steps", "5", "--out", out, "--no-progress", *TINY, *extra)
    assert code == 0, err
    assert "5 steps" in text
    history = (out / "history.csv").read_text().splitlines()
    if name in ("cnf", "otflow"):
        assert "nfe" in history[0].split(",")  # the solver's cost is logged while training
    code, text, _ = run_cli(capsys, "eval", out, "--n", "200", "--json")
    assert code == 0
    results = json.loads(text)
    assert results["test_nll_kind"] == "exact" and np.isfinite(results["test_nll"])
    assert results["nfe_log_prob"] > 0 and results["nfe_sample"] > 0
    # save → load: the reloaded model gives the same densities and the same seeded samples.
    fitted = pf.load(out)
    again = pf.load(out)
    x = fitted.dataset().test[:50]
    torch.testing.assert_close(fitted.log_prob_tensor(x), again.log_prob_tensor(x))
    np.testing.assert_allclose(fitted.sample(20, seed=1), again.sample(20, seed=1))


def test_trajectories_and_animation(capsys, otflow_run, tmp_path, monkeypatch):
    import pushforward.viz.trajectories as trajectories

    # Each of the GIF's 25 frames is a density on a grid, an ODE solve per point: a coarse grid
    # keeps every frame (and what is checked of them) at a fraction of the cost.
    fine_grid = trajectories.density_on_grid
    monkeypatch.setattr(trajectories, "density_on_grid", lambda log_prob, bounds, **o: fine_grid(log_prob, bounds, **{**o, "resolution": 24}))
    code, text, err = run_cli(capsys, "plot", otflow_run, "--trajectories", "-o", tmp_path / "paths.png")
    assert code == 0, err
    assert (tmp_path / "paths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, text, err = run_cli(capsys, "plot", otflow_run, "--animate", tmp_path / "density.gif")
    assert code == 0, err
    from PIL import Image

    with Image.open(tmp_path / "density.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 25
    assert run_cli(capsys, "plot", otflow_run, "--trajectories")[0] == 0
    assert (otflow_run / "figures" / "trajectories.png").exists()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize(
    "args,message",
    [
        (["fit", "checkerboard", "--model", "cnf", "--steps", "1", "--set", "solver=foo"], "unknown ODE solver 'foo'"),
        (["fit", "checkerboard", "--model", "otflow", "--steps", "1", "--set", "rtol=0"], "rtol must lie in (0, 1)"),
        (["fit", "checkerboard", "--model", "cfm", "--steps", "1", "--set", "atol=-1"], "atol must lie in (0, 1)"),
        (["fit", "checkerboard", "--model", "cnf", "--steps", "1", "--set", "train_solver=rk4", "--set", "adjoint=true"],
         "adjoint method needs an adaptive solver"),
    ],
)
def test_bad_solver_settings_exit_2_and_write_nothing(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert snapshot(tmp_path) == before


def test_trajectory_flags_need_a_continuous_flow(capsys, tmp_path):
    out = tmp_path / "nsf"
    assert run_cli(capsys, "fit", "checkerboard", "--model", "nsf", "--steps", "2", "--out", out, "--set", "n_train=500",
                   "--set", "n_test=100", "--set", "layers=1", "--set", "hidden_features=4")[0] == 0
    before = snapshot(tmp_path)
    for flags in (["--trajectories"], ["--animate", tmp_path / "a.gif"]):
        code, _, err = run_cli(capsys, "plot", out, *flags)
        assert code == 2 and err.count("\n") == 1 and "needs a continuous flow or a diffusion" in err
    assert snapshot(tmp_path) == before
