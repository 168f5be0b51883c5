"""Where a run's data comes from, and its train / validation / test split.

``DATA`` is either a built-in toy name (an unlimited, seeded supply of points whose true density
and entropy are known) or a file of numeric rows. Either way the result is a :class:`Dataset`
with fixed splits that are rebuilt identically from the JSON :class:`DataSpec` saved in a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pushforward.data.files import file_digest, few_values_warning, read_table
from pushforward.data.toy2d import ToyDataset, get_toy
from pushforward.errors import UserError
from pushforward.names import check_data_argument

# Toy data are free: enough training points that a 60 s fit never sees one twice too often, and
# a large test set so the test NLL's standard error is far below the differences we report.
TOY_TRAIN, TOY_VALIDATION, TOY_TEST = 1_000_000, 20_000, 100_000


@dataclass(frozen=True)
class DataSpec:
    """The JSON-able description of a run's data, enough to rebuild the same splits."""

    kind: str  # "toy" or "file"
    name: str  # toy name, or the file's absolute path
    seed: int = 0
    n_train: int = TOY_TRAIN
    n_validation: int = TOY_VALIDATION
    n_test: int = TOY_TEST
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataSpec:
        return cls(**data)

    @property
    def label(self) -> str:
        return self.name if self.kind == "toy" else Path(self.name).stem


@dataclass
class Dataset:
    """Fixed splits of one data source, as float32 tensors of shape (n, *event_shape)."""

    spec: DataSpec
    train: Tensor
    validation: Tensor
    test: Tensor
    columns: list[str]
    toy: ToyDataset | None = None
    # One-line notes on data a model can fit but whose likelihood misleads (few distinct values);
    # ``fit`` raises them as warnings, before training.
    warnings: list[str] = field(default_factory=list)
    # One-line notes on what a new fit would refuse in the data of a run already fitted (see
    # load_dataset's ``existing_run``); evaluating and plotting the run warn of them.
    fit_refusals: list[str] = field(default_factory=list)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def fresh_real_samples(self, n: int, seed: int) -> Tensor | None:
        """Independent real samples (toys only): the noise floor of sample-based metrics."""
        if self.toy is None:
            return None
        return self.toy.sample(n, seed=seed)


def resolve_spec(data: str | Path, seed: int = 0, **sizes: Any) -> DataSpec:
    """Turn the user's ``DATA`` argument into a :class:`DataSpec`, checking it exists."""
    path = check_data_argument(data)
    if path is None:
        return DataSpec(kind="toy", name=str(data), seed=seed, **sizes)
    return DataSpec(kind="file", name=str(path.resolve()), seed=seed, sha256=file_digest(path), **sizes)


def load_dataset(spec: DataSpec, *, existing_run: bool = False) -> Dataset:
    """Build the splits described by ``spec`` (identically every time).

    ``existing_run``: the data are read again for a run already fitted on them (to evaluate or
    plot it), not for a new fit. A file is then refused only if it no longer gives the array
    the run was trained on (gone, changed, unreadable); what the checks that protect a new fit
    find (see :func:`~pushforward.data.files.read_table`) becomes :attr:`Dataset.fit_refusals`,
    so a run fitted before a check existed keeps its results."""
    if spec.kind == "toy":
        return _toy_dataset(spec)
    return _file_dataset(spec, existing_run)


def _toy_dataset(spec: DataSpec) -> Dataset:
    toy = get_toy(spec.name)
    for label, size in (("n_train", spec.n_train), ("n_validation", spec.n_validation), ("n_test", spec.n_test)):
        if size < 2:
            raise UserError(f"{label} is {size}", f"use at least 2 points (--set {label}=...)")
    # Separate seeded streams per split, so changing one size never changes another split.
    base = 1_000_003 * spec.seed
    train = toy.sample(spec.n_train, seed=base + 1)
    validation = toy.sample(spec.n_validation, seed=base + 2)
    test = toy.sample(spec.n_test, seed=base + 3)
    return Dataset(spec, train, validation, test, columns=["x1", "x2"], toy=toy)


def _file_dataset(spec: DataSpec, existing_run: bool) -> Dataset:
    path = Path(spec.name)
    if not path.is_file():
        raise UserError(f"the run's data file '{path}' is gone", "put it back at that path to evaluate on its test split")
    table = read_table(path, new_fit=not existing_run)
    if spec.sha256 is not None and table.sha256 != spec.sha256:
        raise UserError(
            f"the data file '{path}' changed since the run was made",
            "restore the original file, or fit a new run on the new data",
        )
    n = table.values.shape[0]
    n_test = max(1, int(round(spec.test_fraction * n)))
    n_validation = max(1, int(round(spec.validation_fraction * n)))
    if n - n_test - n_validation < 2:
        raise UserError(f"'{path}' has too few rows ({n}) to split", "give more rows or smaller split fractions")
    order = np.random.default_rng(spec.seed).permutation(n)
    values = torch.from_numpy(table.values[order]).float()
    test, validation, train = values[:n_test], values[n_test : n_test + n_validation], values[n_test + n_validation :]
    note = few_values_warning(table)
    refusals = [_refused_by_fit_now(problem) for problem in table.fit_refusals]
    return Dataset(
        spec, train, validation, test, columns=table.columns, warnings=[note] if note else [], fit_refusals=refusals
    )


def _refused_by_fit_now(problem: UserError) -> str:
    """One line for a problem a new fit refuses, found in the data of a run already fitted: the
    run was fitted before the check existed (its data file is unchanged, by its digest), so its
    results stand as they are, and the fix is for the next fit."""
    return f"{problem.problem}: `fit` refuses such data now ({problem.fix}), but this run was fitted on them before it did, so they are read as they are"
