"""Settings a model would not read are refused, and the rules that say so are true."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models.base import create, get_entry, model_names

# (model, the settings given, the one refused, a setting that makes the model read it)
CASES = [
    ("cnf", {"steps": 4}, "steps", {"solver": "rk4"}),
    ("cnf", {"solver": "rk4", "rtol": 1e-3}, "rtol", {"sample_solver": "dopri5"}),
    ("cnf", {"solver": "rk4", "max_steps": 50}, "max_steps", {"solver": "dopri5"}),
    ("otflow", {"sample_solver": "dopri5", "sample_steps": 6}, "sample_steps", {"sample_solver": "rk4"}),
    ("cnf", {"sample_solver": "dopri5", "sample_grid_power": 2.0}, "sample_grid_power", {"sample_solver": "euler"}),
    ("cnf", {"space_scale": 2.0}, "space_scale", {"space_features": 4}),
    ("cnf", {"probe": "gaussian"}, "probe", {"divergence": "hutchinson"}),
    ("cnf", {"train_steps": 4}, "train_steps", {"train_solver": "rk4"}),
    ("cnf", {"train_solver": "rk4", "train_atol": 1e-3}, "train_atol", {"train_solver": "dopri5"}),
    ("rectified", {"time_power": 0.5}, "time_power", {"time_sampling": "power"}),
    ("cfm", {"time_sampling": "power", "parameterization": "velocity", "logit_min": -3.0}, "logit_min", {"parameterization": "v"}),
    ("cfm", {"ot_block": 8}, "ot_block", {"coupling": "ot"}),
    ("wgan", {"r1_every": 4}, "r1_every", {"r1": 1.0}),
    ("gan", {"critic_fourier_scale": 2.0}, "critic_fourier_scale", {"critic_fourier": 8}),
    ("wgan", {"drs_lr": 1e-3}, "drs_lr", {"sampler": "drs"}),
    ("gan", {"drs_fourier": 0, "drs_fourier_scale": 1.0}, "drs_fourier_scale", {"drs_fourier": 8}),
    ("gan", {"drs_select_bound": False, "drs_selection_samples": 500}, "drs_selection_samples", {"drs_select_bound": True}),
    ("ddpm", {"beta_end": 0.05}, "beta_end", {"noise_schedule": "linear", "timesteps": 1000}),
    ("vae", {"prior": "normal", "prior_components": 4}, "prior_components", {"prior": "mixture"}),
    ("vae", {"decoder": "bernoulli", "min_scale": 1e-2}, "min_scale", {"decoder": "gaussian"}),
    ("vae", {"encoder_scale": 2.0}, "encoder_scale", {"encoder_features": 8}),
    ("vae", {"decoder_features": 0, "decoder_scale": 2.0}, "decoder_scale", {"decoder_features": 8}),
]


@pytest.mark.parametrize(("name", "given", "refused", "enabling"), CASES)
def test_a_setting_the_model_would_not_read_is_refused_in_one_line(name, given, refused, enabling):
    with pytest.raises(UserError, match=f"^{refused} is read only ") as caught:
        create(name, (2,), **given)
    assert f"drop --set {refused}" in caught.value.fix and "\n" not in str(caught.value)
    create(name, (2,), **{**given, **enabling})  # read there: accepted


def outputs(name: str, settings: dict) -> dict[str, torch.Tensor]:
    """What the model computes, from fixed seeds: its weights, a training objective, samples and
    (where it has one) log p."""
    torch.manual_seed(0)
    model = create(name, (2,), check_unused=False, **settings)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    result = {f"weight.{key}": value.clone() for key, value in model.state_dict().items()}
    for group, _ in model.step_plan():
        torch.manual_seed(2)
        result[f"objective.{group}"] = model.objective(x, group)["loss"].detach()
    with torch.no_grad():
        torch.manual_seed(3)
        result["samples"] = model.sample(16)
        if model.likelihood != "none":
            result["log_prob"] = model.log_prob(x[:8])
    return result


@pytest.mark.parametrize(("name", "given", "refused", "enabling"), CASES)
def test_a_refused_setting_would_indeed_have_changed_nothing(name, given, refused, enabling):
    # The rule's claim, checked: built anyway, another value of the refused setting gives the
    # same weights, objective, samples and log p as the default.
    default = getattr(get_entry(name).cls.hyperparameters_class(), refused)
    base = {key: value for key, value in given.items() if key != refused}
    changed, unchanged = outputs(name, given), outputs(name, {**base, refused: default})
    assert changed.keys() == unchanged.keys()
    for key in changed:
        torch.testing.assert_close(changed[key], unchanged[key], rtol=0, atol=0, equal_nan=True, msg=key)


def test_defaults_and_presets_are_never_refused():
    for name in model_names():
        create(name, (2,))  # a preset's values (otcfm's coupling) are no one's choice


def test_every_rule_names_real_settings():
    for name in model_names():
        hparams_class = get_entry(name).cls.hyperparameters_class
        fields = {field.name for field in dataclasses.fields(hparams_class)}
        for rule in getattr(hparams_class, "unread_rules", ()):
            assert set(rule.names) | set(rule.deciders) <= fields, (name, rule.names)
