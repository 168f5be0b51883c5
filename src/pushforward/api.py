"""The Python API: ``fit``, ``load``, and a fitted model that samples, scores and plots.

The CLI is a thin layer over these functions; anything it does, a script can do::

    import pushforward as pf
    run = pf.fit("checkerboard", model="nsf", time=60, out="runs/cb")
    x = run.sample(1000)              # numpy array in the data's own units
    report = run.evaluate()           # test NLL, KL gap, energy distance and its noise floor
    run.plot()                        # figures/density.png
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pushforward import __version__
from pushforward.data.preprocessing import Standardize
from pushforward.data.source import Dataset, DataSpec, load_dataset, resolve_spec
from pushforward.device import resolve_device
from pushforward.errors import TrainingDiverged, UserError, suggest
from pushforward.hparams import to_json_dict
from pushforward.models.base import GenerativeModel, batched_log_prob, create, get_entry
from pushforward.names import check_data_argument, check_model_name
from pushforward.runs import CONFIG, FIGURES, WEIGHTS, RunDirectory, default_run_path
from pushforward.settings import split_settings
from pushforward.train.config import Budget, TrainConfig
from pushforward.train.state import clone_state
from pushforward.train.trainer import Trainer, TrainResult

SAMPLE_CHUNK = 65536
DEFAULT_EVAL_SAMPLES = 10_000
HISTOGRAM_SAMPLES = 50_000
# The advice when a run's files cannot be used together (its config.json, its weights).
DAMAGED_RUN = "the run is damaged or from another version; fit it again"


def _holding_the_run_while_writing_into_it(method: Callable[..., Path]) -> Callable[..., Path]:
    """A figure method of :class:`FittedModel` (its first argument ``out``) that holds the run's
    lock while it writes into the run (see :meth:`FittedModel.writing_into_run`)."""

    @functools.wraps(method)
    def holding(self: FittedModel, out: str | Path | None = None, *args: Any, **kwargs: Any) -> Path:
        with self.writing_into_run(out):
            return method(self, out, *args, **kwargs)

    return holding


@dataclass
class FittedModel:
    """A trained model with its preprocessing: samples and densities in the data's own units."""

    model: GenerativeModel
    preprocessing: Standardize
    config: dict[str, Any]
    run: RunDirectory | None = None
    training: TrainResult | None = None
    _dataset: Dataset | None = None

    @property
    def name(self) -> str:
        return self.config["model"]

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.model.event_shape

    @property
    def data_spec(self) -> DataSpec:
        return DataSpec.from_json(self.config["data"])

    def dataset(self) -> Dataset:
        """The run's data splits, read once. They are read as the data of a run already fitted:
        what a new fit would refuse in them (a check added since the run was fitted) is a
        warning, raised here once, not an error that would keep the run from being evaluated or
        plotted. (``fit`` and ``--resume`` train, and read the data as a new fit does.)"""
        if self._dataset is None:
            self._dataset = load_dataset(self.data_spec, existing_run=True)
            for note in self._dataset.fit_refusals:
                warnings.warn(note, stacklevel=2)
        return self._dataset

    @property
    def columns(self) -> list[str]:
        """The data's column names (a CSV's header; ``x1``, ``x2``, ... for toys and ``.npy``).

        Read from the run's ``config.json``, where ``fit`` stores them; a config without them
        (or with a count that does not match the data) gives the generated names.
        """
        width = int(np.prod(self.event_shape))
        stored = self.config.get("columns")
        if isinstance(stored, list) and len(stored) == width and all(isinstance(c, str) for c in stored):
            return list(stored)
        return [f"x{i + 1}" for i in range(width)]

    # -- sampling and densities ------------------------------------------------------------

    @torch.no_grad()
    def sample_tensor(self, n: int, seed: int | None = None, *, mean: bool = False) -> Tensor:
        """``n`` samples in data units, as a CPU float32 tensor.

        ``mean=True`` (latent-variable models with a decoder, such as the VAE) returns the
        decoder means E[x|z] at prior draws z instead of samples x ~ p(x|z): sharper pictures,
        but *not* draws from the model's distribution.
        """
        if n < 1:
            raise UserError(f"cannot draw {n} samples", "ask for at least 1 (-n 1000)")
        # The samples are gathered in memory (and concatenated: twice their size): refuse a
        # count that cannot fit now, rather than sample for hours and then run out of memory.
        needed = 2 * n * int(np.prod(self.event_shape)) * 4
        available = _available_memory()
        if available is not None and needed > available:
            raise UserError(
                f"{n:,} samples need about {needed / 1e9:.3g} GB of memory, and {available / 1e9:.3g} GB are available",
                "ask for fewer (-n), or draw them in parts with different --seed values",
            )
        options = {}
        if mean:
            if not getattr(self.model, "has_decoder_mean", False):
                raise UserError(f"{self.name} has no decoder mean to draw", "drop --decoder-mean (it is for VAEs)")
            options["mean"] = True
        self.model.eval()
        device = self.model.device
        generator = None
        if seed is not None:
            generator = torch.Generator(device=device).manual_seed(seed)
        parts = []
        for start in range(0, n, SAMPLE_CHUNK):
            count = min(SAMPLE_CHUNK, n - start)
            parts.append(self.preprocessing.inverse(self.model.sample(count, generator=generator, **options)).cpu())
        return torch.cat(parts).float()

    def sample(self, n: int, seed: int | None = None, *, mean: bool = False) -> np.ndarray:
        return self.sample_tensor(n, seed, mean=mean).numpy()

    @torch.no_grad()
    def log_prob_tensor(self, x: Tensor) -> Tensor:
        """log p(x) in nats of the data's units (the preprocessing's log-det included)."""
        self.model.eval()
        x = torch.as_tensor(x, dtype=torch.float32).to(self.model.device)
        if tuple(x.shape[1:]) != self.event_shape:
            raise UserError(
                f"points of shape {tuple(x.shape[1:])} do not match the model's {self.event_shape}",
                "pass data with the same columns the model was fitted on",
            )
        y = self.preprocessing.forward(x)
        return self.data_log_prob(batched_log_prob(self.model, y), x).cpu()

    def data_log_prob(self, model_log_prob: Tensor, x: Tensor) -> Tensor:
        """log p_x(x) from the model's log-density of the preprocessed ``x``: the change of
        variables log p_x(x) = log p_y(T(x)) + log|det ∂T/∂x|, in ``model_log_prob``'s dtype.
        Every likelihood reported in the data's units goes through here: ``eval``'s test NLL
        and ``fit``'s validation score (:meth:`validation_report`)."""
        return model_log_prob + self.preprocessing.log_det(x).to(model_log_prob)

    def validation_report(self) -> tuple[str, float]:
        """The name and shift under which ``fit`` reports the model's validation score.

        A score that is a mean NLL (or the negative of a bound on log p) in nats per point of
        the standardised data (:attr:`~pushforward.models.base.GenerativeModel.validation_is_nll`)
        is reported in the data's units, as ``eval`` reports its test NLL: the mean over the
        validation points of −log p_x = −log p_y − log|det ∂T/∂x|, i.e. the score plus the shift
        returned here, under the name ``<validation_name>_data`` (the suffix keeps it apart from
        ``<validation_name>``, the standardised value that runs fitted before it logged). Any
        other score is reported as it is, under its own name.
        """
        model = self.model
        if not model.validation_is_nll:
            return model.validation_name, 0.0
        points = self.dataset().validation
        # −mean log|det| over the validation points, by the same change of variables as eval's.
        # (Standardize's log-det is one constant, so models that validate on a subset of the
        # points, cnf and otflow, get the same shift.)
        shift = -float(self.data_log_prob(torch.zeros(points.shape[0], dtype=torch.float64), points).mean())
        return f"{model.validation_name}_data", shift

    def history(self) -> list[dict[str, float]]:
        """The run's ``history.csv``, its validation score as ``fit`` reports it now.

        A run fitted before scores were reported in the data's units logged a likelihood under
        the model's ``validation_name`` in standardised units; its rows are given here under
        the reported name, shifted (see :meth:`validation_report`), so an old run's curves, and
        a resumed run's whole history, are in one unit. The file itself is not changed here.
        """
        if self.run is None:
            raise UserError("this model has no run directory, so no history", "fit it with out=... first")
        rows = self.run.read_history()
        old = self.model.validation_name
        if not any(old in row for row in rows):
            return rows
        name, shift = self.validation_report()
        if name == old:
            return rows
        converted = []
        for row in rows:
            row = dict(row)
            if old in row and name not in row:
                row[name] = row.pop(old) + shift
            converted.append(row)
        return converted

    def log_prob(self, x: np.ndarray | Tensor) -> np.ndarray:
        return self.log_prob_tensor(torch.as_tensor(np.asarray(x))).numpy()

    # -- evaluation and figures ------------------------------------------------------------

    def evaluate(self, n: int = DEFAULT_EVAL_SAMPLES, seed: int = 1234) -> dict[str, Any]:
        """Test NLL, KL gap, and energy distance against held-out data with its noise floor."""
        from pushforward.evaluation import evaluate_model

        if self.run is None:
            return evaluate_model(self, n=n, seed=seed)
        # It writes metrics.json, as a fit of the run does (and --force clears it): the run is
        # held meanwhile, and an evaluation started while a fit holds it is refused at once.
        with self.run.locked("evaluated"):
            self.run.read_metrics()  # a damaged file is refused now, not after the evaluation's minutes
            results = evaluate_model(self, n=n, seed=seed)
            self.run.update_metrics("evaluation", results)
        return results

    @torch.no_grad()
    def warnings(self) -> list[str]:
        """The model's one-line warnings about itself, from its diagnostics on the validation
        split (see :meth:`~pushforward.models.base.GenerativeModel.warnings`); ``fit`` prints
        them."""
        self.model.eval()
        held_out = self.dataset().validation.to(self.model.device)
        return self.model.warnings(self.model.diagnostics(self.preprocessing.forward(held_out)))

    @_holding_the_run_while_writing_into_it
    def plot(
        self, out: str | Path | None = None, *, samples: int = 300, seed: int = 0, columns: Sequence[str] | None = None
    ) -> Path:
        """The model's density as a heat map beside the data, a few samples overlaid (a 2-D
        histogram of samples for a model without a likelihood, e.g. a GAN); for 1-D data the
        density as a curve over histograms of the data and of samples. Axes are labelled with
        the data's column names.

        Data of more than two columns are drawn column by column, without a density (a 2-D slice
        of the model is not its log_prob): each column's histogram and every pair's scatter and
        correlation, data beside samples (:func:`~pushforward.viz.pairs.plot_pairs`), for the
        first ``MAX_PAIR_COLUMNS`` columns or those named in ``columns``. Two names in
        ``columns`` draw just that pair as 2-D histograms of data and samples side by side."""
        from pushforward.viz import plot_model
        from pushforward.viz.pairs import MAX_PAIR_COLUMNS

        if columns is not None:
            return self._plot_columns(out, columns, samples=samples, seed=seed)
        if len(self.event_shape) == 1 and self.event_shape[0] > 2:
            return self._plot_pairs(out, self.columns[:MAX_PAIR_COLUMNS], samples=samples, seed=seed)
        target = self._figure_path(out, "density.png")
        dataset = self.dataset()
        data = dataset.train[:100_000].numpy()
        log_prob = None
        # Only in 1-D and 2-D is the density drawable; in more dimensions a 2-D slice of the
        # model is not its log_prob. A model that says it has a likelihood but raises
        # NotTractable is handled by plot_model.
        if self.model.likelihood != "none" and self.event_shape in ((1,), (2,)):
            log_prob = self.log_prob_tensor
        # Where samples are shown as a histogram (no density, or 1-D data), draw enough to fill it.
        histogram = log_prob is None or self.event_shape == (1,)
        points = self.sample(max(samples, HISTOGRAM_SAMPLES) if histogram else samples, seed=seed)
        bounds = dataset.toy.bounds if dataset.toy is not None else None
        title = f"{self.name} on {self.data_spec.label}"
        return plot_model(data, samples=points, log_prob=log_prob, bounds=bounds, title=title, out=target, labels=self.columns,
                          resolution=self.model.density_grid)

    def _plot_columns(self, out: str | Path | None, columns: Sequence[str], *, samples: int, seed: int) -> Path:
        """:meth:`plot` of chosen columns: two as 2-D histograms of data and samples side by side,
        more in pairs."""
        from pushforward.viz import plot_model
        from pushforward.viz.pairs import MAX_PAIR_COLUMNS

        names = self.columns
        if len(names) <= 2:
            raise UserError(f"--columns chooses among more than two columns; these data have {len(names)}",
                            "leave --columns out: the figure shows them all, with the model's density")
        chosen = [str(name) for name in columns]
        if not 2 <= len(chosen) <= MAX_PAIR_COLUMNS or len(set(chosen)) != len(chosen):
            raise UserError(
                f"--columns needs 2 to {MAX_PAIR_COLUMNS} different column names, not {', '.join(chosen) or 'none'}",
                f"e.g. --columns {','.join(names[:3])}")
        for name in chosen:
            if name not in names:
                raise UserError(f"the data have no column '{name}'", suggest(name, names))
        if len(chosen) > 2:
            return self._plot_pairs(out, chosen, samples=samples, seed=seed)
        # The chosen two first, so the figure's first two coordinates are theirs.
        first = [names.index(name) for name in chosen]
        order = first + [i for i in range(len(names)) if i not in first]
        target = self._figure_path(out, "density.png")
        data, points = self._columns_of_data_and_samples(order, samples, seed)
        shown = f"columns {chosen[0]} and {chosen[1]} of {len(names)}"
        return plot_model(data, samples=points, log_prob=None, title=f"{self.name} on {self.data_spec.label}", out=target,
                          labels=[names[i] for i in order], shown=shown)

    def _columns_of_data_and_samples(self, order: Sequence[int], samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The training data (up to 100,000 rows) and enough samples for histograms, in the
        columns ``order`` of a table."""
        train = self.dataset().train[:100_000]
        data = train.reshape(len(train), -1)[:, order].numpy()
        points = self.sample(max(samples, HISTOGRAM_SAMPLES), seed=seed).reshape(-1, len(self.columns))[:, order]
        return data, points

    def _plot_pairs(self, out: str | Path | None, chosen: Sequence[str], *, samples: int, seed: int) -> Path:
        """:meth:`plot` of a table's ``chosen`` columns in pairs (:func:`~pushforward.viz.pairs.plot_pairs`)."""
        from pushforward.viz.pairs import plot_pairs

        names = self.columns
        order = [names.index(name) for name in chosen]
        target = self._figure_path(out, "density.png")
        data, points = self._columns_of_data_and_samples(order, samples, seed)
        if len(order) == len(names):
            shown = f"all {len(names)} columns"
        elif order == list(range(len(order))):
            shown = f"first {len(order)} of {len(names)} columns (choose others with --columns)"
        else:
            shown = f"columns {', '.join(chosen)} of {len(names)}"
        return plot_pairs(data, points, out=target, labels=list(chosen), title=f"{self.name} on {self.data_spec.label}",
                          shown=shown, seed=seed)

    @property
    def has_latent_space(self) -> bool:
        """Whether the model encodes data to a latent space (VAEs): then :meth:`plot_latent` works."""
        return callable(getattr(self.model, "encode", None)) and callable(getattr(self.model, "reconstruct", None))

    @_holding_the_run_while_writing_into_it
    @torch.no_grad()
    def plot_latent(self, out: str | Path | None = None, *, points: int = 3000, seed: int = 0) -> Path:
        """Encoded training points in latent space, and data beside their reconstructions."""
        from pushforward.viz import plot_latent

        if not self.has_latent_space:
            raise UserError(f"{self.name} has no latent space to draw", "plot_latent is for VAEs")
        target = self._figure_path(out, "latent.png")
        self.model.eval()
        dataset = self.dataset()
        data = dataset.train[:points]
        normalized = self.preprocessing.forward(data.to(self.model.device))
        latents = self.model.encode(normalized)
        reconstructions = self.preprocessing.inverse(self.model.reconstruct(normalized)).cpu()
        generator = torch.Generator(device=self.model.device).manual_seed(seed)
        dtype = latents.dtype
        prior = self.model.prior.sample(points, generator, self.model.device, dtype) if hasattr(self.model, "prior") else None
        bounds = dataset.toy.bounds if dataset.toy is not None else None
        return plot_latent(
            data.numpy(),
            latents.cpu().numpy(),
            reconstructions.numpy(),
            target,
            prior_samples=None if prior is None else prior.cpu().numpy(),
            title=f"{self.name} on {self.data_spec.label}: latent space",
            bounds=bounds,
            labels=self.columns,
        )

    @_holding_the_run_while_writing_into_it
    def plot_trajectories(self, out: str | Path | None = None, *, n: int = 300, times: int = 41, seed: int = 0) -> Path:
        """Paths of ``n`` points from the Gaussian (t = 0) to the data (t = 1): continuous flows,
        and diffusions along their probability-flow ODE."""
        from pushforward.viz.trajectories import plot_trajectories

        model = self.continuous_model("--trajectories")
        generator = torch.Generator(device=model.device).manual_seed(seed)
        z = torch.randn((n, *self.event_shape), generator=generator, device=model.device)
        grid = torch.linspace(0.0, 1.0, times, device=model.device)
        states = model.trajectories(z, grid)
        # Every state in data units, so the paths end on the data as drawn in the other figures.
        paths = torch.stack([self.preprocessing.inverse(state) for state in states]).cpu().numpy()
        dataset = self.dataset()
        bounds = dataset.toy.bounds if dataset.toy is not None else None
        data = dataset.train[:5000].numpy()
        title = f"{self.name} on {self.data_spec.label}: paths from N(0, I) to the data"
        return plot_trajectories(
            paths, self._figure_path(out, "trajectories.png"), data=data, bounds=bounds, title=title, labels=self.columns
        )

    @_holding_the_run_while_writing_into_it
    def animate(self, out: str | Path, *, frames: int = 25, resolution: int = 100) -> Path:
        """A GIF of the density p_t (in data units) evolving from the Gaussian to the model."""
        from pushforward.viz._common import robust_bounds
        from pushforward.viz.trajectories import animate_density

        model = self.continuous_model("--animate")
        if self.event_shape != (2,):
            raise UserError(f"the animation draws 2-D densities, not {self.event_shape}", "animate a model of 2-D data")
        dataset = self.dataset()
        bounds = dataset.toy.bounds if dataset.toy is not None else robust_bounds(dataset.train[:100_000].numpy())
        model.eval()

        def log_prob_at(x: Tensor, t: float) -> Tensor:
            y = self.preprocessing.forward(x.to(model.device))
            return self.data_log_prob(model.log_prob_at(y, t), x).cpu()

        times = [float(t) for t in np.linspace(0.0, 1.0, frames)]
        return animate_density(
            log_prob_at, times, out, bounds=bounds, resolution=resolution, title=self.name, labels=self.columns
        )

    def continuous_model(self, what: str) -> Any:
        """The model, if it moves points continuously in time (a continuous flow, or a diffusion
        by its probability-flow ODE); else a UserError naming ``what``."""
        if not (hasattr(self.model, "trajectories") and hasattr(self.model, "log_prob_at")):
            raise UserError(
                f"{what} needs a continuous flow or a diffusion, and '{self.name}' is neither",
                "fit one of cnf, otflow, cfm, otcfm, rectified, ddpm",
            )
        return self.model

    @_holding_the_run_while_writing_into_it
    def plot_history(self, out: str | Path | None = None) -> Path:
        from pushforward.viz import plot_history

        return plot_history(self.history(), self._figure_path(out, "history.png"))

    def writing_into_run(self, *outputs: str | Path | None) -> contextlib.AbstractContextManager[None]:
        """Hold the run's lock while figures are written into it
        (:meth:`~pushforward.runs.RunDirectory.locked_while_writing_figures`)."""
        return contextlib.nullcontext() if self.run is None else self.run.locked_while_writing_figures(*outputs)

    def _figure_path(self, out: str | Path | None, default: str) -> Path:
        if out is not None:
            return Path(out)
        if self.run is None:
            raise UserError("no output path for the figure", "pass out='figure.png'")
        return self.run.path / FIGURES / default


# -- fit --------------------------------------------------------------------------------------


def fit(
    data: str | Path,
    model: str = "nsf",
    *,
    time: float | None = None,
    steps: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    device: str = "auto",
    progress: bool = False,
    resume: bool = False,
    force: bool = False,
    figures: bool = True,
) -> FittedModel:
    """Train ``model`` on ``data`` (a built-in toy name or a .npy/.csv file) and save the run.

    The budget is ``time`` seconds and/or ``steps`` iterations (60 s when neither is given).
    ``settings`` overrides model hyperparameters, trainer settings and data settings by name,
    as ``--set key=value`` does on the command line. The run directory ``out`` (default
    ``runs/<data>-<model>``, never an existing one) receives the config, weights, history,
    metrics and figures. ``resume=True`` continues an interrupted run in ``out``, with the
    seed, settings, model and data it was fitted with; a ``time`` or ``steps`` given then
    replaces the saved budget (both kinds; none given keeps it), and counts the whole run:
    ``steps`` the steps since the first fit began, ``time`` its training seconds, those before
    the interruption included. ``seed`` defaults to 0.
    """
    if resume:
        if force:
            raise UserError("--resume continues the run in --out and --force replaces it", "drop one of them")
        return _resume(out, data=data, model=model, time=time, steps=steps, seed=seed, settings=settings, device=device, progress=progress, figures=figures)
    seed = 0 if seed is None else seed
    # A mistyped name is refused before the model families are imported (2-3 s).
    check_model_name(model)
    check_data_argument(data)
    entry = get_entry(model)
    chosen = split_settings(entry, dict(settings or {}))
    budget = Budget(seconds=time, steps=steps) if (time is not None or steps is not None) else Budget(seconds=60.0)
    spec = resolve_spec(data, seed=seed, **chosen.data.spec_sizes())
    target = Path(out) if out is not None else default_run_path(spec.label, model)
    RunDirectory.check_new(target, force=force)
    dataset = load_dataset(spec)
    torch_device = resolve_device(device)

    preprocessing = Standardize.fit(dataset.train) if chosen.data.standardize else Standardize.identity(dataset.event_shape[0])
    torch.manual_seed(seed)
    network = create(model, dataset.event_shape, **chosen.model).to(torch_device)
    # Only now that every input has been checked does anything touch the disk.
    existed = target.exists()
    run = RunDirectory.create(target, force=force)
    try:
        return _start(run, model, entry, chosen, budget, spec, dataset, preprocessing, network, torch_device, seed, progress, figures)
    except BaseException:
        # Stopped before anything was saved (a second Ctrl-C, an error): a run directory with
        # only its config.json could be neither resumed nor fitted into again without --force.
        if not (run.path / WEIGHTS).exists() and not run.has_checkpoint():
            (run.path / CONFIG).unlink(missing_ok=True)
            run.unlock()
            if not existed and not any(run.path.iterdir()):
                run.path.rmdir()
        raise
    finally:
        run.unlock()


def _start(run, model, entry, chosen, budget, spec, dataset, preprocessing, network, torch_device, seed, progress, figures) -> FittedModel:
    config = {
        "pushforward_version": __version__,
        "model": model,
        "family": entry.family,
        "hyperparameters": to_json_dict(network.hparams),
        "train": to_json_dict(chosen.train),
        "budget": {"seconds": budget.seconds, "steps": budget.steps},
        "data": spec.to_json(),
        "data_settings": to_json_dict(chosen.data),
        "event_shape": list(dataset.event_shape),
        "columns": dataset.columns,
        "preprocessing": preprocessing.to_json(),
        "seed": seed,
        "device": str(torch_device),
        "created": _now(),
    }
    run.write_config(config)
    # Only now, every input checked: a warning before a refusal would make it two lines.
    for note in dataset.warnings:
        warnings.warn(note, stacklevel=3)
    fitted = FittedModel(network, preprocessing, config, run, _dataset=dataset)
    score_name, score_shift = fitted.validation_report()
    trainer = Trainer(
        network,
        preprocessing.forward(dataset.train),
        preprocessing.forward(dataset.validation),
        chosen.train,
        budget,
        seed=seed,
        progress=progress,
        description=f"{model} on {spec.label}",
        on_checkpoint=lambda t: _save_progress(run, t),
        score_name=score_name,
        score_shift=score_shift,
    )
    return _train_and_save(fitted, trainer, figures)


def _resume(out, *, data, model, time, steps, seed, settings, device, progress, figures) -> FittedModel:
    if out is None:
        raise UserError("--resume needs the run to continue", "pass --out RUN_DIR")
    run = RunDirectory.open(out)
    run.lock()
    try:
        # A write of a run's file killed outright (SIGKILL) left its temporary file beside it;
        # holding the lock, no other process can be writing one now.
        run.remove_leftover_temporaries()
        return _continue(run, out, data=data, model=model, time=time, steps=steps, seed=seed, settings=settings, device=device,
                         progress=progress, figures=figures)
    finally:
        run.unlock()


def _continue(run, out, *, data, model, time, steps, seed, settings, device, progress, figures) -> FittedModel:
    fitted = load(out, device=device)  # config.json's model, shape and settings, and the weights, checked
    config = fitted.config
    run.read_metrics()  # a damaged file is refused now, not once training is over
    try:
        train = TrainConfig(**config["train"])
        spec = DataSpec.from_json(config["data"])
        old = {"seconds": config["budget"]["seconds"], "steps": config["budget"]["steps"]}
        int(config["seed"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"'{run.path / CONFIG}' has a missing or malformed entry ({error}), so the run cannot be resumed",
            DAMAGED_RUN,
        ) from error
    if model is not None and model != config["model"]:
        raise UserError(f"'{out}' is a {config['model']} run, not {model}", f"use --model {config['model']} to resume it")
    if data is not None and str(data) not in (spec.name, spec.label) and Path(str(data)).resolve() != Path(spec.name):
        raise UserError(f"'{out}' was fitted on {spec.label}, not {data}", f"resume it with DATA = {spec.name}")
    if settings:
        raise UserError("--set cannot change a run being resumed", "resume without --set, or start a new run")
    if seed is not None and seed != config["seed"]:
        raise UserError(f"'{out}' was fitted with --seed {config['seed']}, not {seed}", f"resume it without --seed (or with --seed {config['seed']})")
    # A budget given now replaces the saved one, both kinds: `--steps 300` on a run fitted with
    # `--time 60` trains to step 300, not to whichever of 60 s and 300 steps comes first (the
    # user named the only limit they want). Either kind counts the whole run, as the checkpoint
    # does: --steps the steps since the first fit began, --time its training seconds, those
    # before the interruption included. No budget given keeps the saved one.
    if time is not None or steps is not None:
        budget = Budget(seconds=time, steps=steps)
    else:
        budget = Budget(seconds=old["seconds"], steps=old["steps"])
    tensors, meta = run.load_checkpoint(device=fitted.model.device)
    if budget.progress(int(meta["step"]), float(meta["elapsed"])) >= 1.0:
        raise UserError(
            f"'{out}' already used its budget ({_budget_words(budget)}): it has trained {meta['elapsed']:.0f} s, {meta['step']} steps",
            "pass a larger --time or --steps to train longer (each counts the whole run, the training before this resume included)",
        )
    config["budget"] = {"seconds": budget.seconds, "steps": budget.steps}
    config["resumed"] = config.get("resumed", []) + [_now()]
    # Resuming trains on: the data face every check of a new fit (fitted.dataset() would only
    # warn of those that protect a fit, as evaluating an existing run does).
    dataset = fitted._dataset = load_dataset(spec)
    score_name, score_shift = fitted.validation_report()
    trainer = Trainer(
        fitted.model,
        fitted.preprocessing.forward(dataset.train),
        fitted.preprocessing.forward(dataset.validation),
        train,
        budget,
        seed=config["seed"],
        progress=progress,
        description=f"{config['model']} on {spec.label} (resumed)",
        on_checkpoint=lambda t: _save_progress(run, t),
        score_name=score_name,
        score_shift=score_shift,
    )
    # `load` just put the kept (best) weights into the model: take them before the checkpoint's
    # current weights replace them, rather than reading model.safetensors a second time.
    trainer.restore(tensors, meta, best_state=clone_state(fitted.model))
    # In the reported units throughout: a run fitted before they were the data's has its
    # earlier rows converted (fitted.history), and the file is rewritten with them.
    trainer.history = fitted.history()
    run.write_config(config)
    return _train_and_save(fitted, trainer, figures)


def _budget_words(budget: Budget) -> str:
    """``budget`` as the options that give it: ``--time 60``, ``--steps 300`` or both."""
    words = []
    if budget.seconds is not None:
        words.append(f"--time {budget.seconds:g}")
    if budget.steps is not None:
        words.append(f"--steps {budget.steps}")
    return " and ".join(words)


def _train_and_save(fitted: FittedModel, trainer: Trainer, figures: bool) -> FittedModel:
    run = fitted.run
    assert run is not None
    try:
        result = trainer.run()
    except TrainingDiverged as error:
        _finish(run, trainer, status="diverged", message=str(error))
        raise
    _finish(run, trainer, status=result.status, message=result.message)
    trainer.restore_best()
    fitted.training = result
    # Not after a Ctrl-C: whoever pressed it wants the prompt back, not 15 s of figures that a
    # resumed run draws anyway when it ends (and `pushforward plot` draws at any time).
    if figures and result.status != "interrupted":
        fitted.plot()
        if fitted.has_latent_space:
            fitted.plot_latent()
        if len(result.history) > 1:
            fitted.plot_history()
    return fitted


def _save_progress(run: RunDirectory, trainer: Trainer) -> None:
    tensors, meta = trainer.checkpoint()
    run.save_checkpoint(tensors, meta)
    if trainer.best_state is not None:
        run.save_weights(trainer.best_state)
    run.write_history(trainer.history)


def _finish(run: RunDirectory, trainer: Trainer, *, status: str, message: str) -> None:
    _save_progress(run, trainer)
    run.update_metrics(
        "training",
        {
            "status": status,
            "message": message,
            "steps": trainer.step,
            "seconds": round(trainer.elapsed, 3),
            "iterations_per_second": trainer.step / trainer.elapsed if trainer.elapsed > 0 else None,
            **trainer.result(status, message).kept_summary(),
        },
    )


# -- load -------------------------------------------------------------------------------------


def load(run_dir: str | Path, device: str = "auto") -> FittedModel:
    """Rebuild a fitted model from its run directory: registry + JSON + safetensors, no pickle."""
    run = RunDirectory.open(run_dir)
    config = run.read_config()
    where = run.path / CONFIG
    if not isinstance(config, dict):
        raise UserError(f"'{where}' is not a JSON object", DAMAGED_RUN)
    try:
        name = config["model"]
        event_shape = tuple(config["event_shape"])
        hyperparameters = dict(config["hyperparameters"])
        preprocessing = Standardize.from_json(config["preprocessing"])
    except KeyError as error:
        raise UserError(f"'{where}' has no {error}", DAMAGED_RUN) from error
    except (TypeError, ValueError, AttributeError) as error:
        raise UserError(f"'{where}' has a malformed entry ({error})", DAMAGED_RUN) from error
    torch_device = resolve_device(device)
    # A problem with what the file names (a model or setting that does not exist, a value of
    # the wrong type) is the file's, not the user's input: said so, with the file's path.
    try:
        # A setting renamed since the run was saved is read under its new name; one added since
        # takes the value that reproduces the old model.
        settings_class = get_entry(str(name)).cls.hyperparameters_class
        renamed = getattr(settings_class, "SETTINGS_RENAMED", {})
        hyperparameters = {renamed.get(key, key): value for key, value in hyperparameters.items()}
        earlier = getattr(settings_class, "VALUES_BEFORE_THE_SETTING_EXISTED", {})
        hyperparameters = {**earlier, **hyperparameters}
        # Every saved value, defaults included: none of them is a setting the user just chose.
        network = create(name, event_shape, check_unused=False, **hyperparameters)
    except UserError as error:
        raise UserError(f"'{where}': {error.problem}", DAMAGED_RUN) from error
    state = run.load_weights()
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise UserError(
            f"the weights in '{run.path}' do not match its config ({str(error).splitlines()[0]})",
            DAMAGED_RUN,
        ) from error
    network.to(torch_device).eval()
    return FittedModel(network, preprocessing, config, run)


def _available_memory() -> int | None:
    """Bytes of memory available to allocate now (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


__all__ = ["FittedModel", "fit", "load"]
