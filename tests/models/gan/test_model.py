"""The GAN model through the common interface: groups, step plan, hooks, trainer, save → load."""

from __future__ import annotations

import pytest
import torch

import pushforward as pf
from pushforward.errors import NotTractable, UserError
from pushforward.models.base import create, get_entry
from pushforward.settings import split_settings
from pushforward.train.config import Budget, TrainConfig
from pushforward.train.trainer import Trainer

TINY = {"hidden_features": 16, "hidden_layers": 1, "latent_features": 2, "validation_samples": 200}
TINY_DATA = {"n_train": 2000, "n_validation": 300, "n_test": 500}


@pytest.mark.parametrize("name", ["gan", "gan-minimax", "wgan", "wgan-gp"])
def test_registered_gans_have_no_likelihood(name):
    model = create(name, (2,), **TINY)
    assert get_entry(name).family == "gan" and model.likelihood == "none"
    assert set(model.parameter_groups()) == {"critic", "generator"}
    with pytest.raises(NotTractable, match="GAN"):
        model.log_prob(torch.zeros(3, 2))
    assert model.sample(5).shape == (5, 2)


def test_groups_partition_the_parameters():
    model = create("gan", (2,), spectral_norm=True, **TINY)
    groups = model.parameter_groups()
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_the_trainer_honours_the_step_ratio_and_calls_the_hook_after_each_step():
    torch.manual_seed(0)
    model = create("wgan", (2,), critic_steps=3, **TINY)
    calls: list[str] = []
    original = model.after_step
    model.after_step = lambda group: (calls.append(group), original(group))  # type: ignore[method-assign]
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
    assert {o.param_groups[0]["lr"] for o in defaults.optimizers.values()} == {1e-2}


def test_gradient_penalty_and_packing_reach_the_critic_loss():
    torch.manual_seed(0)
    model = create("wgan-gp", (2,), pack=4, **TINY)
    out = model.objective(torch.randn(64, 2), "critic")
    assert float(out["penalty"]) >= 0
    torch.testing.assert_close(out["loss"].detach(), 10.0 * out["penalty"] - out["distance"])


def test_r1_penalty_enters_the_discriminator_loss():
    torch.manual_seed(0)
    model = create("gan", (2,), r1=4.0, r1_every=1, pack=2, **TINY)
    plain = create("gan", (2,), r1=0.0, pack=2, **TINY)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(64, 2)
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
    settings = {**TINY, **TINY_DATA, "spectral_norm": True, "ema_decay": 0.9}
    fitted = pf.fit("8gaussians", model=name, steps=5, out=tmp_path / "run", settings=settings, figures=False)
    loaded = pf.load(tmp_path / "run")
    torch.testing.assert_close(loaded.sample_tensor(50, seed=3), fitted.sample_tensor(50, seed=3))
    for key, value in fitted.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value)


def test_lazy_r1_penalises_every_kth_critic_step_with_k_times_the_weight():
    torch.manual_seed(0)
    model = create("gan", (2,), r1=4.0, r1_every=3, pack=2, **TINY)
    plain = create("gan", (2,), r1=0.0, pack=2, **TINY)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(64, 2)
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
