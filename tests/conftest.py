"""Shared fixtures: a tiny learnable Gaussian model registered for trainer and CLI tests."""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

# numba (under dcor, the energy-distance oracle) compiles dcor's kernels at import, ~30 s on a
# fresh install, and caches them on disk. Two xdist workers compiling into the same cache at
# once sometimes abort inside LLVM (reproduced: 2 of 10 processes in 5 paired fresh imports
# sharing a cache; none with separate caches), so each worker gets its own, kept between runs
# under .pytest_cache (xdist names the worker before conftest loads; a worker inherits the
# controller's environment, so this must overwrite, not default). Set before anything imports
# numba, which reads it once.
os.environ["NUMBA_CACHE_DIR"] = str(
    Path(__file__).resolve().parent.parent / ".pytest_cache" / "numba" / os.environ.get("PYTEST_XDIST_WORKER", "main")
)

import numpy
import pytest
import torch
from torch import Tensor, nn

from pushforward.models.base import GenerativeModel, _REGISTRY, ModelEntry


# One thread from the start, with or without xdist (two workers on two cores would otherwise
# fight over them), so that module-scoped fixtures, which pytest builds before the function-scoped
# `one_thread` below, train on one thread too: a fit's floating-point sums depend on the thread
# count, and a test comparing a fixture's fit with a fresh one must compare like with like.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def seeded_random_state():
    """Every test starts from the same global random state, whatever ran before it on its
    worker: xdist deals tests out in a different order each run, so a test drawing from the
    global generators would otherwise see different numbers each time (the probability-flow
    inversion test missed its tolerance on about 1 draw in 40 that way)."""
    torch.manual_seed(0)
    numpy.random.seed(0)
    random.seed(0)


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' tensors are small: extra intra-op threads only spin (and, beside other work on
    the 2 cores, make the suite many times slower), so every test runs on one thread, with or
    without xdist, and a test that changes the count cannot leak it into the next."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass
class DiagonalGaussianHyperparameters:
    init_log_scale: float = 0.0


class DiagonalGaussian(GenerativeModel):
    """x = mean + exp(log_scale) * z: the simplest pushforward, with a closed-form MLE."""

    hyperparameters_class = DiagonalGaussianHyperparameters

    def __init__(self, event_shape: tuple[int, ...], hparams: DiagonalGaussianHyperparameters) -> None:
        super().__init__(event_shape, hparams)
        self.mean = nn.Parameter(torch.zeros(event_shape))
        self.log_scale = nn.Parameter(torch.full(event_shape, hparams.init_log_scale))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn((n, *self.event_shape), generator=generator, device=self.device)
        return self.mean + self.log_scale.exp() * z

    def log_prob(self, x: Tensor) -> Tensor:
        z = (x - self.mean) / self.log_scale.exp()
        log_density = -0.5 * z**2 - self.log_scale - 0.5 * math.log(2 * math.pi)
        return log_density.flatten(1).sum(dim=1)


@pytest.fixture(scope="session", autouse=True)
def registered_test_gaussian():
    entry = ModelEntry("test-gaussian", DiagonalGaussian, "test", "a diagonal Gaussian used by the tests")
    _REGISTRY.setdefault(entry.name, entry)
    yield entry


def forget_setting(run_path: Path, name: str) -> None:
    """Remove one hyperparameter from a saved run's config.json, as if the run predated it."""
    config_path = Path(run_path) / "config.json"
    config = json.loads(config_path.read_text())
    del config["hyperparameters"][name]
    config_path.write_text(json.dumps(config))


def setting_before_and_after_forgetting(model: str, name: str, settings: dict[str, str], folder: Path, steps: int = 2) -> tuple[object, object]:
    """Fit a tiny run of ``model`` on the checkerboard, then load it as if it had been saved
    before the hyperparameter ``name`` existed: ``(its value as fitted, its value as loaded)``."""
    import pushforward as pf

    run = pf.fit("checkerboard", model=model, steps=steps, seed=0, out=folder / "run", settings=settings, figures=False)
    fitted = getattr(run.model.hparams, name)
    forget_setting(run.run.path, name)
    return fitted, getattr(pf.load(run.run.path).model.hparams, name)


def time_scale_rows(network: nn.Module) -> list[tuple[Tensor, int]]:
    """The parameters of a ``TimeConditionedMLP``'s time path that hold the scales of its hidden
    units (``time_scale``), each with the row where the scales start (the shifts come first);
    empty for a network without scales.

    Tests that perturb every weight of a small network, so its output depends on x and t, treat
    these rows apart: perturbed like the others, the scales (exactly 1 at the start) swing between
    about −2 and 4, and the network becomes a stiff, sign-flipping function no trained one
    resembles (ε̂ near 1e5, ODE solves that stall).
    """
    row = getattr(network, "first_scale_output", None)
    if row is None:
        return []
    return [(network.time[-1].weight, row), (network.time[-1].bias, row)]


def keep_saved_figures(monkeypatch: pytest.MonkeyPatch, module: object) -> list:
    """The figures ``module`` saves from now on, kept (and still written) for a test to inspect."""
    kept: list = []
    real_save = module.save_figure  # type: ignore[attr-defined]
    monkeypatch.setattr(module, "save_figure", lambda figure, out: kept.append(figure) or real_save(figure, out))
    return kept
