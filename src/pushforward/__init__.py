"""pushforward: fit deep generative models, sample from them, measure them honestly, show them.

The public API::

    fit(data, model="nsf", time=60, ...)   -> FittedModel (samples, log_prob, evaluate, plot)
    load(run_dir)                          -> FittedModel rebuilt from safe files
    compare(data, models=[...], time=60)   -> Leaderboard; writes leaderboard.json and report.html
    create(name, event_shape, **hparams)   -> an untrained model from the registry
    plot_density(f)                        -> how x = f(z) reshapes a standard Gaussian
    list_models(), list_datasets()         -> the built-in names
    metrics.energy_test(x, y), ...         -> the two-sample tests and metrics (``pushforward.metrics``)
"""

from __future__ import annotations

from typing import Any

from pushforward.allocator import tune_glibc_malloc

__version__ = "0.1.0"

# Before any tensor exists: keep freed memory for reuse (see pushforward/allocator.py).
tune_glibc_malloc()

_EXPORTS = {
    "fit": ("pushforward.api", "fit"),
    "load": ("pushforward.api", "load"),
    "compare": ("pushforward.comparison", "compare"),
    "FittedModel": ("pushforward.api", "FittedModel"),
    "create": ("pushforward.models.base", "create"),
    "plot_density": ("pushforward.viz.explore", "plot_density"),
    "UserError": ("pushforward.errors", "UserError"),
    "NotTractable": ("pushforward.errors", "NotTractable"),
}


def list_models() -> list[str]:
    """Names accepted by ``fit(model=...)`` and ``create``."""
    from pushforward.models.base import model_names

    return model_names()


def list_datasets() -> list[str]:
    """Names of the built-in data sets."""
    from pushforward.data.toy2d import toy_names

    return toy_names()


# Subpackages reachable as attributes (``pf.metrics.energy_test``) without importing them first.
_SUBPACKAGES = ("metrics", "viz")


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import pushforward` stays cheap for the CLI's quick commands.
    import importlib

    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"pushforward.{name}")
    raise AttributeError(f"module 'pushforward' has no attribute '{name}'")


__all__ = ["__version__", "list_datasets", "list_models", *_EXPORTS, *_SUBPACKAGES]
