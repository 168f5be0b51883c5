"""The GAN model through the common interface: groups, step plan, hooks, trainer, save → load."""

from __future__ import annotations

import math

import pytest
import torch

import pushforward as pf
from pushforward.errors import NotTractable, UserError
from pushforward.models.base import create, get_entry
from pushforward.models.gan.model import GANHyperparameters
from pushforward.settings import split_settings
from pushforward.train.config import Budget, TrainConfig
from pushforward.train.trainer import Trainer

# drs_selection_samples: a fit's DRS bound is chosen on the energy distance of 300 samples per
# candidate rather than 10,000 (most of a 10-step fit's 10 s); the tests of the selection set
# their own sizes.
TINY_GAME = {"hidden_features": 16, "hidden_layers": 1, "latent_features": 2, "validation_samples": 200}
# The DRS bound chosen on 300 samples per candidate, not 10,000 (most of a tiny fit's time); read
# only by a GAN that samples by DRS and selects its bound (gan): the others refuse it.
TINY = {**TINY_GAME, "drs_selection_samples": 300}


def tiny(name: str) -> dict:
    return TINY if name == "gan" else TINY_GAME
TINY_DATA = {"n_train": 2000, "n_validation": 300, "n_test": 500}


@pytest.mark.parametrize("name", ["gan", "gan-minimax", "wgan", "wgan-gp"])
def test_registered_gans_have_no_likelihood(name):
    model = create(name, (2,), **tiny(name))
    assert get_entry(name).family == "gan" and model.likelihood == "none"
    # `gan` samples by DRS: its calibrated discriminator is a third group
    assert set(model.parameter_groups()) == {"critic", "generator"} | ({"ratio"} if name == "gan" else set())
    with pytest.raises(NotTractable, match="GAN"):
        model.log_prob(torch.zeros(3, 2))
    if name == "gan":  # untrained, so its rejection sampler was never calibrated: it says so
        with pytest.warns(UserWarning, match="never calibrated"):
            assert model.sample(5).shape == (5, 2)
    else:
        assert model.sample(5).shape == (5, 2)


def record_steps(model) -> list[str]:
    """The groups of the optimizer steps ``model`` takes from now on, in order (via its hook)."""
    calls: list[str] = []
    original = model.after_step
    model.after_step = lambda group, factor=1.0: (calls.append(group), original(group, factor))  # type: ignore[method-assign]
    return calls


def test_groups_partition_the_parameters():
    model = create("gan", (2,), spectral_norm=True, **TINY)
    groups = model.parameter_groups()
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_the_trainer_honours_the_step_ratio_and_calls_the_hook_after_each_step():
    torch.manual_seed(0)
    model = create("wgan", (2,), critic_steps=3, **TINY_GAME)
    calls = record_steps(model)
    data = torch.randn(256, 2)
    trainer = Trainer(model, data, data[:64], TrainConfig(batch_size=32, validations=1), Budget(steps=4))
    trainer.run()
    assert calls == ["critic", "critic", "critic", "generator"] * 4
    # one RMSprop per group, each with its own state
    assert all(isinstance(o, torch.optim.RMSprop) for o in trainer.optimizers.values())
    # weight clipping ran after the critic steps
    assert all(bool((p.abs() <= torch.tensor(0.01)).all()) for p in model.critic.parameters())
    assert {"critic_loss", "critic_distance", "generator_loss"} <= set(trainer.history[-1])


def test_learning_rates_are_configuration():
    model = create("gan", (2,), generator_lr=1e-3, critic_lr=4e-3, **TINY)
    data = torch.randn(64, 2)
    trainer = Trainer(model, data, data, TrainConfig(lr=1e-2), Budget(steps=1))
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == 1e-3
    assert trainer.optimizers["critic"].param_groups[0]["lr"] == 4e-3
    defaults = Trainer(create("gan", (2,), **TINY), data, data, TrainConfig(lr=1e-2), Budget(steps=1))
    assert {o.param_groups[0]["lr"] for k, o in defaults.optimizers.items() if k != "ratio"} == {1e-2}
    # drs_lr: the calibrated classifier's own rate, whatever the trainer's lr
    assert defaults.optimizers["ratio"].param_groups[0]["lr"] == GANHyperparameters.drs_lr != 1e-2


def test_gradient_penalty_and_packing_reach_the_critic_loss():
    torch.manual_seed(0)
    model = create("wgan-gp", (2,), pack=4, **TINY_GAME)
    out = model.objective(torch.randn(64, 2), "critic")
    assert float(out["penalty"]) >= 0
    torch.testing.assert_close(out["loss"].detach(), 10.0 * out["penalty"] - out["distance"])


def with_and_without_r1(r1_every: int):
    """A GAN with R1 = 4, the same weights without R1, and a data batch."""
    torch.manual_seed(0)
    model = create("gan", (2,), r1=4.0, r1_every=r1_every, pack=2, **TINY)
    plain = create("gan", (2,), r1=0.0, pack=2, **TINY)
    plain.load_state_dict(model.state_dict())
    return model, plain, torch.randn(64, 2)


def test_r1_penalty_enters_the_discriminator_loss():
    model, plain, x = with_and_without_r1(r1_every=1)
    torch.manual_seed(1)  # the same fake samples for both
    out = model.objective(x, "critic")
    torch.manual_seed(1)
    base = plain.objective(x, "critic")
    assert "r1" not in base and float(out["r1"]) > 0
    torch.testing.assert_close(out["loss"].detach(), base["loss"].detach() + 2.0 * out["r1"])


def test_generator_step_leaves_the_critic_without_gradients():
    model = create("gan", (2,), **TINY)
    model.objective(torch.randn(32, 2), "generator")["loss"].backward()
    assert all(p.grad is None for p in model.critic.parameters())
    assert all(p.requires_grad for p in model.critic.parameters())
    assert any(p.grad is not None for p in model.generator.parameters())


def test_validation_score_is_a_repeatable_energy_distance():
    torch.manual_seed(0)
    model = create("gan", (2,), **TINY)
    x = torch.randn(500, 2)
    first, second = model.validation_score(x), model.validation_score(x)
    assert first == second and first > 0
    with torch.no_grad():
        model.generator.net[-1].bias.fill_(float("nan"))
    assert model.validation_score(x) == float("inf")


def test_bad_hyperparameters_are_user_errors():
    for bad in ({"pack": 0}, {"critic_steps": 0}, {"clip": -1.0}, {"critic_lr": 0.0}):
        with pytest.raises(UserError):
            create("gan", (2,), **bad)


@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_save_then_load_gives_the_same_samples(tmp_path, name):
    settings = {**tiny(name), **TINY_DATA, "spectral_norm": True, "ema_decay": 0.9}
    fitted = pf.fit("8gaussians", model=name, steps=5, out=tmp_path / "run", settings=settings, figures=False)
    loaded = pf.load(tmp_path / "run")
    torch.testing.assert_close(loaded.sample_tensor(50, seed=3), fitted.sample_tensor(50, seed=3))
    for key, value in fitted.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value, equal_nan=True)  # NaN: no DRS bound chosen


def test_lazy_r1_penalises_every_kth_critic_step_with_k_times_the_weight():
    model, plain, x = with_and_without_r1(r1_every=3)
    for step in range(7):
        torch.manual_seed(step)
        out = model.objective(x, "critic")
        torch.manual_seed(step)
        base = plain.objective(x, "critic")
        if step % 3 == 0:
            assert float(out["r1"]) > 0
            torch.testing.assert_close(out["loss"].detach(), base["loss"].detach() + 3 * 2.0 * out["r1"])
        else:
            assert "r1" not in out
            torch.testing.assert_close(out["loss"].detach(), base["loss"].detach())
    model.objective(x, "generator")  # generator steps do not count: critic steps 7, 8, 9 follow
    assert ["r1" in model.objective(x, "critic") for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize("name", ["gan", "gan-minimax", "wgan", "wgan-gp"])
def test_gans_keep_their_final_weights_unless_told_otherwise(name):
    assert split_settings(get_entry(name), {}).train.keep_best is False
    assert split_settings(get_entry(name), {"keep_best": "true"}).train.keep_best is True


# -- discriminator rejection sampling ----------------------------------------------------------


def test_drs_calibrates_a_separate_discriminator_in_the_last_share_of_the_budget():
    torch.manual_seed(0)
    model = create("gan", (2,), drs_fraction=0.25, **TINY)
    calls = record_steps(model)
    data = torch.randn(256, 2)
    trainer = Trainer(model, data, data[:64], TrainConfig(batch_size=32, validations=2, keep_best=False), Budget(steps=20))
    frozen = {k: v.clone() for k, v in model.generator.state_dict().items()}
    trainer.run()
    assert calls == ["critic", "generator"] * 15 + ["ratio"] * 5
    assert int(model.calibration_steps) == 5
    # the generator changed in the game, not afterwards; the kept weights hold the calibration
    assert any(not torch.equal(frozen[k], v) for k, v in model.generator.state_dict().items())
    assert int(trainer.best_state["calibration_steps"]) == 5
    assert "ratio_loss" in trainer.history[-1]
    # the game anneals over the first 75 %, the calibration's schedule restarts over the last 25 %
    assert trainer._schedule_progress("critic", 0.5) == pytest.approx(0.5 / 0.75)
    assert trainer._schedule_progress("ratio", 0.8) == pytest.approx(0.2)
    assert trainer._schedule_progress("critic", 0.8) == 1.0


def test_with_keep_best_the_calibration_finishes_the_best_weights():
    torch.manual_seed(0)
    model = create("gan", (2,), drs_fraction=0.5, **TINY)
    data = torch.randn(256, 2)
    trainer = Trainer(model, data, data[:64], TrainConfig(batch_size=32, validations=4, keep_best=True), Budget(steps=8))
    trainer.run()
    trainer.restore_best()
    assert int(model.calibration_steps) == 4


def test_drs_samples_are_generator_samples_the_discriminator_accepts():
    torch.manual_seed(0)
    model = create("gan", (2,), drs_log_bound=0.0, **TINY)
    model.calibration_steps += 1
    # a "discriminator" that rejects the right half plane outright
    model.ratio.forward = lambda x: torch.where(x[:, 0] > 0, -1e4, 0.0)  # type: ignore[method-assign]
    samples = model.sample(500, torch.Generator().manual_seed(3))
    assert samples.shape == (500, 2) and bool((samples[:, 0] <= 0).all())
    raw = model.sample_generator(500, torch.Generator().manual_seed(3))
    assert bool((raw[:, 0] > 0).any())


def test_an_uncalibrated_drs_model_warns_and_samples_its_generator():
    model = create("gan", (2,), **TINY)
    with pytest.warns(UserWarning, match="never calibrated"):
        samples = model.sample(7, torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples, model.sample_generator(7, torch.Generator().manual_seed(0)))
    # ... and fit / eval / compare print the same reason as one line; once calibrated, nothing.
    (message,) = model.warnings({})
    assert message.startswith("this GAN's discriminator was never calibrated") and "\n" not in message
    model.calibration_steps += 1
    assert model.warnings({}) == []
    assert create("gan-minimax", (2,), **TINY_GAME).warnings({}) == []  # no DRS asked for


@pytest.mark.parametrize("bad", [{"sampler": "mcmc"}, {"drs_fraction": 1.0}, {"drs_burn_in": 5}, {"drs_lr": 0}])
def test_bad_drs_settings_are_user_errors(bad):
    with pytest.raises(UserError):
        create("gan", (2,), **bad)


def test_drs_applies_to_a_wasserstein_generator_with_its_own_logistic_discriminator():
    model = create("wgan", (2,), sampler="drs", drs_fraction=0.1, **TINY)
    data = torch.randn(128, 2)
    trainer = Trainer(model, data, data[:32], TrainConfig(batch_size=32, validations=1), Budget(steps=10))
    assert isinstance(trainer.optimizers["critic"], torch.optim.RMSprop)
    assert isinstance(trainer.optimizers["ratio"], torch.optim.AdamW)
    trainer.run()
    assert int(model.calibration_steps) == 1


def test_save_then_load_reproduces_the_drs_sampler(tmp_path):
    run = pf.fit("25gaussians", model="gan", steps=10, out=tmp_path / "run", figures=False,
                 settings={**TINY, **TINY_DATA, "drs_fraction": 0.3, "batch_size": 64})
    assert int(run.model.calibration_steps) == 3
    loaded = pf.load(tmp_path / "run")
    torch.testing.assert_close(loaded.sample_tensor(300, seed=4), run.sample_tensor(300, seed=4))
    assert int(loaded.model.calibration_steps) == 3


def test_a_run_saved_under_other_drs_defaults_loads_and_resumes_with_its_own_values(tmp_path):
    """A run's config stores every hyperparameter, so changing a default never changes a saved
    run: here the DRS settings of the defaults before the current ones (0.1, 2e-3, 4)."""
    before = {"drs_fraction": 0.1, "drs_lr": 2e-3, "drs_fourier_scale": 4.0}
    defaults = GANHyperparameters()
    assert all(getattr(defaults, key) != value for key, value in before.items())  # else this proves nothing
    run = pf.fit("25gaussians", model="gan", steps=10, out=tmp_path / "run", figures=False,
                 settings={**TINY, **TINY_DATA, **before, "batch_size": 64})
    loaded = pf.load(tmp_path / "run")
    assert {key: getattr(loaded.model.hparams, key) for key in before} == before
    # what a resumed run would train with: its own calibration share and rate
    assert loaded.model.final_phase()[0] == 0.1
    assert loaded.model.optimizer_options("ratio")["lr"] == 2e-3
    # the discriminator's Fourier features are those it was calibrated with, at scale 4
    torch.testing.assert_close(loaded.model.ratio.state_dict(), run.model.ratio.state_dict())
    fresh = create("gan", (2,), **{**TINY, "drs_fourier_scale": 4.0})
    torch.testing.assert_close(loaded.model.ratio.state_dict()["features.projection"], fresh.ratio.state_dict()["features.projection"])
    torch.testing.assert_close(loaded.sample_tensor(300, seed=4), run.sample_tensor(300, seed=4))
    # resumed to 20 steps, it calibrates over its own last 10 % (steps 18, 19), not the default's
    resumed = pf.fit("25gaussians", model="gan", steps=20, out=tmp_path / "run", resume=True, figures=False)
    assert int(resumed.model.calibration_steps) == 1 + 2


def test_training_ends_by_choosing_the_drs_bound_with_the_smallest_validation_energy(tmp_path):
    from pushforward.metrics.two_sample import energy_distance
    from pushforward.models.gan import rejection
    from pushforward.models.gan.model import SELECTION_BOUNDS

    run = pf.fit("checkerboard", model="gan", steps=40, out=tmp_path / "run", figures=False,
                 settings={**TINY, **TINY_DATA, "drs_fraction": 0.5, "batch_size": 64, "drs_selection_samples": 300})
    model = run.model
    chosen = float(model.selected_log_bound)
    with torch.no_grad():
        logits = model._burn_in_logits()
    candidates = rejection.candidate_bounds(logits, [model.hparams.drs_log_bound, *SELECTION_BOUNDS], model.hparams.drs_min_acceptance)
    assert chosen in candidates and len(candidates) >= 2
    # Recomputed with the full energy distance (its constant E|V-V'| term included), in normalised units.
    validation = run.preprocessing.forward(run.dataset().validation)[:300]
    distances = []
    for bound in candidates:
        seed = torch.Generator().manual_seed(1)

        def propose(m: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = model.sample_generator(m, seed)
            return x, model.ratio_logits(x)

        with torch.no_grad():
            samples = rejection.rejection_sample(propose, 300, rejection.calibrate(logits, bound), generator=seed)
        distances.append(energy_distance(samples, validation))
    assert chosen == candidates[min(range(len(candidates)), key=distances.__getitem__)]
    assert model.drs_calibration().log_bound == chosen
    assert float(pf.load(tmp_path / "run").model.selected_log_bound) == chosen
    # eval reports the bound, where it came from, and the acceptance rate it gives on the burn-in.
    facts = model.sampling_facts()
    assert facts == {"sampler": "drs", "drs_log_bound": chosen, "drs_bound_source": "validation",
                     "drs_acceptance_rate": rejection.calibrate(logits, chosen).acceptance_rate}
    assert 0 < facts["drs_acceptance_rate"] <= 1


def test_without_selection_the_configured_bound_stays(tmp_path):
    run = pf.fit("checkerboard", model="gan", steps=20, out=tmp_path / "run", figures=False,
                 settings={**TINY_GAME, **TINY_DATA, "drs_fraction": 0.5, "batch_size": 64, "drs_select_bound": False})
    assert math.isnan(float(run.model.selected_log_bound))
    assert run.model.drs_calibration().log_bound == run.model.hparams.drs_log_bound
    assert run.model.sampling_facts()["drs_bound_source"] == "setting"
    assert run.model.sampling_facts()["drs_log_bound"] == run.model.hparams.drs_log_bound


def test_a_generator_sampler_reports_itself_without_drs_facts():
    assert create("gan", (2,), **TINY).sampling_facts() == {"sampler": "generator"}
    # asked for DRS but never calibrated: it samples its generator, and says so
    assert create("gan", (2,), **TINY, sampler="drs").sampling_facts() == {"sampler": "generator"}


def test_weights_saved_before_the_selection_existed_load_with_the_fixed_bound():
    model = create("gan", (2,), **TINY)
    state = {k: v for k, v in model.state_dict().items() if k != "selected_log_bound"}
    fresh = create("gan", (2,), **TINY)
    fresh.selected_log_bound.fill_(1.0)
    fresh.load_state_dict(state)
    assert math.isnan(float(fresh.selected_log_bound))


def test_the_selection_size_fits_the_time_left():
    from pushforward.models.gan.model import SELECTION_COST_EXPONENT, selection_size

    # A pilot of 2,000 samples took 0.1 s; twice the samples cost 2^exponent times as long.
    assert selection_size(2000, 0.1, 0.1 * 2**SELECTION_COST_EXPONENT, 10_000) == pytest.approx(4000, abs=1)
    assert selection_size(2000, 0.1, 0.05, 10_000) == 2000  # no time: the pilot's size
    assert selection_size(2000, 0.1, 1e6, 10_000) == 10_000  # plenty: the setting's


def test_under_a_time_limit_the_selection_scores_every_bound_on_as_many_samples_as_fit(tmp_path):
    from pushforward.models.gan.model import SELECTION_PILOT

    run = pf.fit("checkerboard", model="gan", steps=40, out=tmp_path / "run", figures=False,
                 settings={**TINY, **TINY_DATA, "drs_fraction": 0.5, "batch_size": 64, "drs_selection_samples": 300})
    model = run.model
    model.hparams.drs_selection_samples = 3000
    validation = run.preprocessing.forward(run.dataset().validation)
    sizes: list[int] = []
    score = model._bound_score

    def recording(bound, logits, points, size):
        sizes.append(size)
        return score(bound, logits, points, size)

    model._bound_score = recording
    with torch.no_grad():
        model.finish_training(validation, seconds=0.0)  # no time: the pilot's size, the pilot reused
        no_time = list(sizes)
        sizes.clear()
        model.finish_training(validation, seconds=None)  # a step budget: the setting's size
    assert len(no_time) >= 2 and set(no_time) == {SELECTION_PILOT}
    assert sizes == [3000] * len(no_time)
    assert model.finish_time_share() > 0
    assert create("gan", (2,), **TINY_GAME, drs_select_bound=False).finish_time_share() == 0
