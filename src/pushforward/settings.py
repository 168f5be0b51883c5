"""Sorting ``--set key=value`` overrides into data, training and model settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pushforward.data.source import TOY_TEST, TOY_TRAIN, TOY_VALIDATION
from pushforward.errors import UserError, suggest
from pushforward.hparams import build, field_names
from pushforward.models.base import ModelEntry
from pushforward.train.config import TrainConfig


@dataclass
class DataSettings:
    """How the data are split and preprocessed (toy sizes, file split fractions)."""

    n_train: int = TOY_TRAIN
    n_validation: int = TOY_VALIDATION
    n_test: int = TOY_TEST
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    standardize: bool = True

    def __post_init__(self) -> None:
        for name in ("n_train", "n_validation", "n_test"):
            if getattr(self, name) < 2:
                raise UserError(f"{name} must be at least 2", f"use --set {name}=<a larger number>")
        for name in ("validation_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 0.5:
                raise UserError(f"{name} must lie in (0, 0.5)", f"use --set {name}=0.1")

    def spec_sizes(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "standardize"}


@dataclass
class Settings:
    data: DataSettings
    train: TrainConfig
    model: dict[str, Any]


def split_settings(entry: ModelEntry, values: dict[str, Any]) -> Settings:
    """Route each key to the data, trainer or model settings; unknown keys are errors."""
    data_keys = set(field_names(DataSettings))
    train_keys = set(field_names(TrainConfig))
    model_keys = set(field_names(entry.cls.hyperparameters_class))
    data_values, train_values, model_values = {}, dict(entry.train_defaults), {}
    for key, value in values.items():
        if key in model_keys:
            model_values[key] = value
        elif key in train_keys:
            train_values[key] = value
        elif key in data_keys:
            data_values[key] = value
        else:
            prefix, dot, rest = key.partition(".")
            if dot and prefix == entry.name and rest in model_keys | train_keys | data_keys:
                # compare's form for one of several models; a single model takes the plain key.
                raise UserError(f"setting '{key}' names its model, as only compare's settings do", f"use --set {rest}={value}")
            valid = sorted(model_keys | train_keys | data_keys)
            raise UserError(f"unknown setting '{key}' for model '{entry.name}'", suggest(key, valid))
    return Settings(
        data=build(DataSettings, data_values, what="data"),
        train=build(TrainConfig, train_values, what="training"),
        model=model_values,
    )
