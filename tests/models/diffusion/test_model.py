"""The ddpm model: training noise levels, ε from either parameterisation, sampling, NFE counts."""

from __future__ import annotations

import threading

import torch

from pushforward.models.base import create
from pushforward.models.diffusion.model import SAMPLERS
from pushforward.models.diffusion.noising import velocity


def test_uniform_time_noise_levels_are_the_schedules_and_likelihood_ones_are_uniform_in_log_snr():
    model = create("ddpm", (2,), hidden_features=8, hidden_layers=1, weighting="uniform_time", points_per_level=1).double()
    generator = torch.Generator().manual_seed(0)
    log_snr = model.training_log_snr(1000, torch.device("cpu"), generator)
    # Stratified uniform times: exactly a quarter of them beyond each quartile of t (λ falls with t).
    for quantile in (0.25, 0.5, 0.75):
        above = int((log_snr < model.log_snr(torch.tensor(quantile, dtype=torch.float64))).sum())
        assert abs(above - 1000 * (1 - quantile)) <= 1
    likelihood = create("ddpm", (2,), hidden_features=8, hidden_layers=1, weighting="likelihood", points_per_level=1).double()
    values = torch.sort(likelihood.training_log_snr(1000, torch.device("cpu"), generator)).values
    ends = likelihood.log_snr(torch.tensor([1.0, likelihood.hparams.ode_t_min], dtype=torch.float64))
    steps = values.diff()
    torch.testing.assert_close(steps, torch.full_like(steps, float(ends[1] - ends[0]) / 1000))
    assert ends[0] <= values[0] and values[-1] <= ends[1]


def test_a_batchs_noise_levels_are_shared_by_runs_of_points_per_level():
    model = create("ddpm", (2,), hidden_features=8, hidden_layers=1).double()
    log_snr = model.training_log_snr(2048, torch.device("cpu"), torch.Generator().manual_seed(0))
    levels, counts = torch.unique_consecutive(log_snr, return_counts=True)
    assert model.hparams.points_per_level == 16 and levels.shape == (128,) and (counts == 16).all()
    ends = model.log_snr(torch.tensor([1.0, model.hparams.ode_t_min], dtype=torch.float64))
    steps = torch.sort(levels).values.diff()
    torch.testing.assert_close(steps, torch.full_like(steps, float(ends[1] - ends[0]) / 128))


def test_epsilon_is_recovered_from_a_v_prediction():
    torch.manual_seed(0)
    model = create("ddpm", (2,), hidden_features=8, hidden_layers=1, prediction="v").double()
    x0, noise = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    t = torch.tensor(0.4, dtype=torch.float64)
    alpha, sigma = model.schedule.alpha_sigma(t)
    x_t = alpha * x0 + sigma * noise
    # Make the network output the true v at this time: then epsilon() must return the true noise.
    true_v = velocity(alpha.expand(5), sigma.expand(5), x0, noise)
    model.network.forward = lambda x, c: true_v
    torch.testing.assert_close(model.epsilon(x_t, t), noise)


def test_samplers_give_the_event_shape_and_count_evaluations():
    torch.manual_seed(0)
    for sampler in SAMPLERS:
        model = create("ddpm", (3,), hidden_features=8, hidden_layers=1, sampler=sampler, sampler_steps=4, ode_rtol=1e-3, ode_atol=1e-3)
        x = model.sample(7, torch.Generator().manual_seed(1))
        assert x.shape == (7, 3) and torch.isfinite(x).all()
        assert model.nfe_sample.per_solve() >= (4 if sampler != "ode" else 1)
    ddim = create("ddpm", (2,), hidden_features=8, hidden_layers=1)
    torch.testing.assert_close(ddim.sample(5, torch.Generator().manual_seed(2)), ddim.sample(5, torch.Generator().manual_seed(2)))


def test_a_run_saved_before_shared_noise_levels_resumes_with_a_level_per_point(tmp_path):
    import pushforward as pf
    from tests.conftest import forget_setting

    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "batch_size": "64"}
    run = pf.fit("checkerboard", model="ddpm", steps=2, seed=0, out=tmp_path / "old", settings=tiny, figures=False)
    forget_setting(run.run.path, "points_per_level")
    again = pf.load(run.run.path)
    assert again.model.hparams.points_per_level == 1
    log_snr = again.model.training_log_snr(64, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert torch.unique(log_snr).numel() == 64



def test_a_run_saved_before_the_stable_target_resumes_with_the_plain_target(tmp_path):
    from tests.conftest import setting_before_and_after_forgetting

    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "batch_size": "64"}
    assert setting_before_and_after_forgetting("ddpm", "stable_target", tiny, tmp_path) == (True, False)


def test_the_stable_target_changes_the_training_loss_but_not_validation():
    # The objective regresses on the lower-variance target; validation keeps the plain loss, so
    # a run's validation curve means the same with either setting.
    model = create("ddpm", (2,), hidden_features=8, hidden_layers=1)
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0)) * 2
    plain = model.denoising_loss(x, torch.Generator().manual_seed(1))
    stable = model.denoising_loss(x, torch.Generator().manual_seed(1), stable_target=True)
    assert not torch.allclose(plain, stable)
    model.hparams.stable_target = False
    off = model.validation_score(x)
    model.hparams.stable_target = True
    assert model.validation_score(x) == off


def test_a_run_saved_before_time_scales_loads_without_them(tmp_path):
    # Its weights have no scale rows: it must load as the shift-only denoiser it was trained as.
    import pushforward as pf
    from tests.conftest import forget_setting

    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "batch_size": "64", "time_scale": "false"}
    run = pf.fit("checkerboard", model="ddpm", steps=2, seed=0, out=tmp_path / "old", settings=tiny, figures=False)
    forget_setting(run.run.path, "time_scale")
    again = pf.load(run.run.path)
    assert again.model.hparams.time_scale is False
    torch.testing.assert_close(again.sample_tensor(50, seed=3), run.sample_tensor(50, seed=3))

def test_a_run_saved_when_the_noise_schedule_was_called_schedule_loads_with_it(tmp_path):
    import json

    import pushforward as pf

    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "batch_size": "64", "noise_schedule": "linear"}
    run = pf.fit("checkerboard", model="ddpm", steps=2, seed=0, out=tmp_path / "old", settings=tiny, figures=False)
    config_path = run.run.path / "config.json"
    config = json.loads(config_path.read_text())
    config["hyperparameters"]["schedule"] = config["hyperparameters"].pop("noise_schedule")
    config_path.write_text(json.dumps(config))
    again = pf.load(run.run.path)
    assert again.model.hparams.noise_schedule == "linear"
    torch.testing.assert_close(again.sample_tensor(50, seed=3), run.sample_tensor(50, seed=3))


def test_the_learning_rate_schedule_is_a_trainer_setting_for_ddpm_too():
    from pushforward.models.base import get_entry
    from pushforward.settings import split_settings

    settings = split_settings(get_entry("ddpm"), {"schedule": "constant", "noise_schedule": "linear"})
    assert settings.train.schedule == "constant"
    assert settings.model == {"noise_schedule": "linear"}


def test_deterministic_samplers_split_across_threads_draw_what_one_thread_draws(monkeypatch):
    """On the CPU DDIM and DPM-Solver++ give each thread a block of rows (row_threads): the
    samples are those of one thread, and the ancestral sampler's noise stream is unchanged.
    Each step's network weights are computed once, in the caller's thread, for all of them."""
    from pushforward.nn.feature_major import FeatureMajorMLP

    network_callers = []
    original = FeatureMajorMLP._workspace_holding

    def recording(self, x):  # a chunk of points enters the network
        network_callers.append(threading.current_thread().name)
        return original(self, x)

    monkeypatch.setattr(FeatureMajorMLP, "_workspace_holding", recording)
    for sampler in ("ddim", "dpm-solver++", "ddpm"):
        model = create("ddpm", (2,), hidden_features=16, hidden_layers=2, sampler=sampler, sampler_steps=5)
        epsilon_at_times, weight_callers = model.epsilon_at_times, []

        def recording_epsilon_at_times(times):
            weight_callers.append(threading.current_thread().name)
            return epsilon_at_times(times)

        model.epsilon_at_times = recording_epsilon_at_times
        samples = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            weight_callers.clear()
            network_callers.clear()
            samples[threads] = model.sample(2_500, torch.Generator().manual_seed(3))
        torch.testing.assert_close(samples[2], samples[1], rtol=1e-5, atol=1e-5)
        # Deterministic: all 5 steps' weights in one call; ancestral: one call per step.
        assert weight_callers == [threading.current_thread().name] * (1 if sampler != "ddpm" else 5)
        # Split: each of the 2 blocks runs the 5 steps in a worker (the pool may hand both
        # blocks to one worker when the first finishes early), each block's chunk entering
        # the network once for all 5 steps; ancestral: once at each of its 5 steps.
        split = sampler != "ddpm"
        assert len(network_callers) == (2 if split else 5)
        assert all(name.startswith("pushforward-rows") == split for name in network_callers)


# -- settings the noise schedule does not read -------------------------------------------------


def test_the_linear_schedules_settings_given_with_the_cosine_schedule_are_refused():
    import pytest

    from pushforward.errors import UserError

    with pytest.raises(UserError) as error:
        create("ddpm", (2,), noise_schedule="cosine", beta_end=0.05)
    assert error.value.problem == "beta_end is read only by the linear noise schedule, and noise_schedule is cosine"
    assert error.value.fix == "drop --set beta_end, or use --set noise_schedule=linear"
    # Under the default schedule too, and every such setting is named at once.
    with pytest.raises(UserError, match=r"^timesteps, beta_start and beta_end are read only by the linear noise schedule, and noise_schedule is cosine \(the default\);"):
        create("ddpm", (2,), timesteps=500, beta_start=1e-3, beta_end=0.05)
    with pytest.raises(UserError) as error:  # timesteps is not the number of sampling steps
        create("ddpm", (2,), timesteps=50)
    assert error.value.fix == "drop --set timesteps (sampling steps are --set sampler_steps=N), or use --set noise_schedule=linear"


def test_the_defaults_and_the_linear_schedule_pass_and_saved_runs_load(tmp_path):
    import json

    import numpy as np

    import pushforward as pf

    assert create("ddpm", (2,)).hparams.noise_schedule == "cosine"
    assert create("ddpm", (2,), noise_schedule="cosine", sampler_steps=8).hparams.beta_end == 0.02
    assert create("ddpm", (2,), noise_schedule="linear", beta_end=0.05).schedule.beta_end == 0.05
    # A saved run lists every value, defaults included; one saved with a value the cosine
    # schedule ignored (before such values were refused) still loads, as it was.
    tiny = {"hidden_features": "8", "hidden_layers": "1", "space_features": "4", "batch_size": "64"}
    run = pf.fit("checkerboard", model="ddpm", steps=2, seed=0, out=tmp_path / "run", settings=tiny, figures=False)
    assert pf.load(run.run.path).model.hparams.timesteps == 1000
    config_path = run.run.path / "config.json"
    config = json.loads(config_path.read_text())
    config["hyperparameters"]["beta_end"] = 0.05
    config_path.write_text(json.dumps(config))
    again = pf.load(run.run.path)
    assert again.model.hparams.beta_end == 0.05
    np.testing.assert_array_equal(again.sample(20, seed=1), run.sample(20, seed=1))
