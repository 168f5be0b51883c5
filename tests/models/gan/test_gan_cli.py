"""Every GAN through the command line on a tiny budget: fit, eval (mode coverage), plot, sample."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pushforward.cli import main

TINY = ["--set", "n_train=2000", "--set", "n_validation=300", "--set", "n_test=1000", "--set", "hidden_features=16",
        "--set", "hidden_layers=1", "--set", "validation_samples=300", "--set", "batch_size=64"]
# gan's DRS bound is chosen on 300 samples per candidate, not 10,000 (most of a tiny fit's time).
# Only gan reads it: the others sample their generator, and refuse the setting.
DRS = {"gan": ["--set", "drs_selection_samples=300"]}


@pytest.mark.parametrize("model", ["gan", "gan-minimax", "wgan", "wgan-gp"])
def test_tiny_fit_eval_plot_sample(capsys, tmp_path, model):
    out = tmp_path / model
    assert main(["fit", "25gaussians", "--model", model, "--steps", "6", "--out", str(out), "--no-progress", *TINY, *DRS.get(model, [])]) == 0
    # A GAN keeps its final weights: the line gives their score, not the best one seen.
    line = capsys.readouterr().out.splitlines()[0]
    assert "final val_energy " in line and line.endswith("at step 6, whose weights are kept (keep_best=false)") and "best " not in line
    assert (out / "figures" / "density.png").read_bytes()[:4] == b"\x89PNG"
    with open(out / "history.csv", newline="") as stream:
        columns = set(next(csv.reader(stream)))
    assert {"critic_loss", "generator_loss", "val_energy"} <= columns
    assert ("critic_distance" in columns) == model.startswith("wgan")
    metrics = json.loads((out / "metrics.json").read_text())["training"]
    assert metrics["steps"] == 6 and metrics["status"] == "completed"
    assert metrics["kept_weights"] == "latest" and metrics["latest_step"] == 6 and not any(key.startswith("best") for key in metrics)
    with open(out / "history.csv", newline="") as stream:
        assert float(list(csv.DictReader(stream))[-1]["val_energy"]) == pytest.approx(metrics["latest_val_energy"], rel=1e-6)
    capsys.readouterr()

    assert main(["eval", str(out), "--n", "300", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["test_nll"] is None and results["test_nll_kind"] == "none"
    assert results["modes_total"] == 25 and 0 <= results["modes_captured"] <= 25
    assert 0 <= results["high_quality_fraction"] <= 1 and results["energy_distance"] > 0

    assert main(["plot", str(out), "-o", str(tmp_path / "d.png")]) == 0
    assert main(["sample", str(out), "-n", "10", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (10, 2)


def test_plot_redraws_the_training_curves(capsys, tmp_path):
    out = tmp_path / "run"
    args = ["fit", "8gaussians", "--model", "wgan", "--steps", "4", "--out", str(out), "--no-progress", *TINY,
            "--set", "validations=2"]
    assert main(args) == 0
    for figure in ("history.png", "density.png"):
        (out / "figures" / figure).unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "figures" / "history.png").is_file() and (out / "figures" / "density.png").is_file()


def test_a_flow_gets_mode_coverage_on_the_mixture_toys(capsys, tmp_path):
    out = tmp_path / "nsf"
    assert main(["fit", "8gaussians", "--model", "nsf", "--steps", "3", "--out", str(out), "--no-progress",
                 "--set", "n_train=2000", "--set", "n_test=1000", "--set", "layers=1", "--set", "hidden_features=8"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--n", "300", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["modes_total"] == 8 and {"modes_captured", "high_quality_fraction", "mode_kl"} <= set(results)
    assert results["test_nll"] is not None


def test_drs_through_the_cli_and_a_bad_sampler_changes_nothing(capsys, tmp_path):
    out = tmp_path / "drs"
    assert main(["fit", "25gaussians", "--model", "gan", "--steps", "10", "--out", str(out), "--no-progress", *TINY,
                 "--set", "drs_fraction=0.3", "--set", "validations=2"]) == 0
    with open(out / "history.csv", newline="") as stream:
        assert "ratio_loss" in next(csv.reader(stream))
    assert main(["sample", str(out), "-n", "50", "--seed", "1", "-o", str(tmp_path / "a.npy")]) == 0
    assert main(["sample", str(out), "-n", "50", "--seed", "1", "-o", str(tmp_path / "b.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    capsys.readouterr()
    assert main(["eval", str(out), "--n", "200", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["sampler"] == "drs" and 0 < results["drs_acceptance_rate"] <= 1
    bad = tmp_path / "bad"
    assert main(["fit", "25gaussians", "--model", "gan", "--steps", "2", "--out", str(bad), "--no-progress",
                 "--set", "sampler=mcmc"]) == 2
    captured = capsys.readouterr()
    assert "sampler" in captured.err + captured.out and not bad.exists()
