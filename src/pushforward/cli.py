"""The ``pushforward`` command: a thin layer over the Python API.

Exit codes: 0 success; 1 training diverged (the run is saved with its last good weights);
2 bad input (one line naming the problem and the fix; nothing on disk changed);
130 interrupted (the run is saved and can be resumed with ``--resume``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

# The defaults of compare's and demo's --n (a light module: no torch).
from pushforward.comparison import DEFAULT_EVAL_N, DEMO_EVAL_N
from pushforward.errors import TrainingDiverged, UserError

if TYPE_CHECKING:
    from pushforward.api import FittedModel
    from pushforward.train.trainer import TrainResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Fit deep generative models, sample from them, measure them honestly, and plot them.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True)

_warned: set[str] = set()  # the warnings this command has printed
_interruption_told = False  # whether the command said itself that it was interrupted


def _warn(text: str, console: Console = out) -> None:
    """Print ``warning: text`` as one line, once per command: a model's own warnings and Python
    warnings raised inside the library (e.g. while a figure samples) say the same things."""
    if text in _warned:
        return
    _warned.add(text)
    console.print(f"warning: {text}", markup=False, highlight=False, soft_wrap=True)


def _show_python_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    # Python's own format adds the file and line of the warn() call: noise for a user.
    _warn(str(message), err)

EXIT_DIVERGED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def _check_new_file(path: Path, force: bool, suffixes: tuple[str, ...] | None = None) -> None:
    if path.is_dir():
        example = path / f"output{suffixes[0] if suffixes else path.suffix}"
        raise UserError(f"'{path}' is a folder, not a file", f"give a file name, e.g. {example}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UserError(f"cannot write '{path}': unsupported file type", f"use one of: {', '.join(suffixes)}")
    if path.exists() and not force:
        raise UserError(f"'{path}' already exists", "choose another path, or pass --force to replace it")
    if path.parent != Path("") and not path.parent.exists():
        raise UserError(f"folder '{path.parent}' does not exist", "create it first or choose another path")


@app.command()
def fit(
    data: str = typer.Argument(..., help="A built-in data set (see `pushforward datasets`) or a .npy/.csv file."),
    model: str = typer.Option("nsf", "--model", "-m", help="Model name (see `pushforward models`)."),
    time: Optional[float] = typer.Option(None, "--time", help="Training time budget in seconds (default 60 when no --steps)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training budget in optimizer iterations."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for data, initialisation and sampling (default 0; --resume keeps the run's)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<data>-<model>)."),
    assignments: Optional[list[str]] = typer.Option(None, "--set", help="Override a setting: --set lr=3e-4 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out directory."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the live progress line."),
) -> None:
    """Train a model on DATA and save the run (config, weights, history, metrics, figures)."""
    from pushforward.names import check_data_argument, check_model_name

    # Before torch and the model families are imported (about 6 s on a slow machine), so a
    # mistyped name is refused at once.
    check_model_name(model)
    check_data_argument(data)
    from pushforward.api import fit as fit_model
    from pushforward.hparams import parse_assignments

    settings = parse_assignments(assignments or [])
    fitted = fit_model(
        data,
        model=model,
        time=time,
        steps=steps,
        seed=seed,
        out=out_dir,
        settings=settings,
        device=device,
        progress=progress and sys.stderr.isatty(),
        resume=resume,
        force=force,
    )
    result = fitted.training
    assert result is not None and fitted.run is not None
    out.print(
        f"{result.status}: {result.steps} steps in {result.seconds:.1f} s "
        f"({result.steps / max(result.seconds, 1e-9):,.0f} it/s), {_kept_score(result)}"
    )
    if result.status == "interrupted":
        out.print(f"{result.message}; continue with: pushforward fit {data} --model {model} --out {fitted.run.path} --resume")
        # What the kept weights are short of (a GAN never calibrated, a VAE inside its
        # warm-up) matters most after an interruption; the diagnostics take well under 1 s.
        for warning in fitted.warnings():
            _warn(warning)
        global _interruption_told
        _interruption_told = True
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.status in ("early_stopped", "completed") and result.message:
        out.print(result.message)  # why it stopped early, or that patience ran out with the budget
    facts = fitted.model.sampling_facts()
    if facts:
        # What the model chose when training ended, which changes its samples (a GAN's rejection
        # bound, a VAE's decoder-noise scale): said here, not only in eval's table.
        out.print("sampling: " + ", ".join(f"{key} {_fact(value)}" for key, value in facts.items()))
    for warning in fitted.warnings():
        _warn(warning)
    out.print(f"run saved in {fitted.run.path}")


def _fact(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _kept_score(result: TrainResult) -> str:
    """The validation score of the weights the run kept: the best one, or for a model that
    keeps its latest weights (keep_best false: GANs, flow matching) the latest one, since the
    best score seen belongs to weights that were not kept."""
    name = result.score_name
    if result.keep_best:
        return f"best {name} {result.best_score:.4f} at step {result.best_step}"
    if result.kept_step == result.steps:
        return f"final {name} {result.kept_score:.4f} at step {result.kept_step}, whose weights are kept (keep_best=false)"
    return f"latest finite {name} {result.kept_score:.4f} at step {result.kept_step}, whose weights are kept (keep_best=false)"


@app.command()
def sample(
    run: Path = typer.Argument(..., help="A run directory made by `pushforward fit`."),
    n: int = typer.Option(..., "-n", "--n", help="Number of samples."),
    output: Path = typer.Option(..., "-o", "--output", help="Output file, .npy or .csv."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for repeatable samples."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    decoder_mean: bool = typer.Option(
        False, "--decoder-mean", help="VAEs: write the decoder means E\\[x|z] at prior draws (not samples of the model)."
    ),
) -> None:
    """Draw N samples from a fitted model, in the data's own units."""
    from pushforward.api import load
    from pushforward.atomic import atomic_path
    from pushforward.data.files import write_table

    _check_new_file(output, force, (".npy", ".csv"))
    if n < 1:
        raise UserError(f"-n is {n}", "ask for at least 1 sample")
    fitted = load(run)
    values = fitted.sample(n, seed=seed, mean=decoder_mean).reshape(n, -1)
    with atomic_path(output) as temporary:
        write_table(temporary, output.suffix, values, fitted.columns)
    out.print(f"wrote {n} {'decoder means' if decoder_mean else 'samples'} to {output}")


@app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., help="A run directory made by `pushforward fit`."),
    n: int = typer.Option(10_000, "--n", "-n", help="Samples (and held-out points) for the sample-based metrics."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    seed: int = typer.Option(1234, "--seed", help="Seed of the model samples."),
) -> None:
    """Test NLL (nats, bits/dim), KL gap (toys), energy distance and noise floor, MMD, C2ST, precision/recall/density/coverage."""
    from pushforward.api import load
    from pushforward.runs import RunDirectory

    # eval writes metrics.json: the run is held from before it is read, so an eval started
    # while a fit holds it is refused in one line (not told that the run has no weights yet).
    with RunDirectory.open(run).locked("evaluated"):
        results = load(run).evaluate(n=n, seed=seed)
    if as_json:
        print(json.dumps(results, allow_nan=False, default=_json_default))
        return
    table = Table(title=f"{results['model']} on {results['data']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if key in ("model", "data", "warnings"):
            continue
        table.add_row(key, "—" if value is None else (f"{value:.5g}" if isinstance(value, float) else str(value)))
    out.print(table)
    for warning in results["warnings"]:
        _warn(warning)


def _json_default(value: object) -> object:
    raise TypeError(f"cannot write {type(value).__name__}")


@app.command()
def plot(
    run: Path = typer.Argument(..., help="A run directory made by `pushforward fit`."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="PNG file (default RUN/figures/density.png)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    trajectories: bool = typer.Option(False, "--trajectories", help="Continuous flows and ddpm: draw paths from the Gaussian to the data instead."),
    animate: Optional[Path] = typer.Option(None, "--animate", help="Continuous flows and ddpm: write the density evolving over t to this .gif (with -o, the density figure too)."),
    columns: Optional[str] = typer.Option(None, "--columns", help="Data of more than two columns: which to draw, e.g. --columns age,income,debt (default: the first 8, each with every other; two names: that pair as histograms side by side)."),
) -> None:
    """The model's density as a heat map beside the data, with samples overlaid (a histogram of
    samples for a model without a likelihood; for 1-D data the density as a curve over
    histograms of the data and of samples); without -o also the training curves. Axes carry
    the data's column names. A table of more than two columns is drawn column by column: each
    column's histogram, and every pair's scatter and correlation, data beside samples.

    For a VAE also the latent space: encoded training points and reconstructions
    (RUN/figures/latent.png, or OUTPUT's name with -latent).
    """
    from pushforward.api import load
    from pushforward.runs import RunDirectory

    if output is not None:
        _check_new_file(output, force, (".png", ".pdf", ".svg"))
    if animate is not None:
        _check_new_file(animate, force, (".gif",))
    # Without -o the figures go into the run (figures/), which a fit of it replaces: then the
    # run is held for the whole command. Figures written elsewhere only read it.
    outputs = [output] if trajectories or animate is None or output is not None else []
    outputs += [animate] if animate is not None else []
    with RunDirectory.open(run).locked_while_writing_figures(*outputs):
        _plot(load(run), output, force, trajectories, animate, columns)


def _plot(fitted: FittedModel, output: Optional[Path], force: bool, trajectories: bool, animate: Optional[Path],
          columns: Optional[str]) -> None:
    """The figures of ``plot``, once the run is loaded (and held, where they go into it)."""
    if trajectories or animate is not None:
        fitted.continuous_model("--trajectories" if trajectories else "--animate")  # a UserError otherwise
    latent = None
    if fitted.has_latent_space and output is not None and not trajectories:
        latent = output.with_name(f"{output.stem}-latent{output.suffix}")
        _check_new_file(latent, force)
    written = []
    if trajectories:
        written.append(fitted.plot_trajectories(output))
    elif animate is None or output is not None:
        written.append(fitted.plot(output, columns=None if columns is None else columns.split(",")))
        if fitted.has_latent_space:
            written.append(fitted.plot_latent(latent))
    if animate is not None:
        written.append(fitted.animate(animate))
    for path in written:
        out.print(f"wrote {path}")
    if output is None and not trajectories and animate is None and fitted.run is not None and len(fitted.run.read_history()) > 1:
        # the training curves too (for a GAN: both losses and the critic's distance estimate)
        out.print(f"wrote {fitted.plot_history()}")


@app.command()
def explore(
    expression: Optional[str] = typer.Argument(None, help='A map of z, e.g. "2*z + 1", "exp(z)", "(z1, z2 + z1**2)".'),
    output: Path = typer.Option(Path("explore.png"), "-o", "--output", help="PNG file."),
    random_net: bool = typer.Option(False, "--random-net", help="Use a randomly initialised neural network as the map."),
    n: int = typer.Option(20_000, "--n", "-n", help="Number of Gaussian samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of z (and of the random network)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """How a map x = f(z) reshapes a standard Gaussian (the course's plot_density)."""
    from pushforward.viz import parse_expression, plot_density, random_network

    if (expression is None) == (not random_net):
        raise UserError("give either an EXPRESSION or --random-net", 'e.g. pushforward explore "exp(z)"')
    _check_new_file(output, force, (".png", ".pdf", ".svg"))
    if n < 2:
        raise UserError(f"--n is {n}", "use at least 2 samples")
    function = random_network(seed=seed) if random_net else parse_expression(expression)
    result = plot_density(function, n=n, seed=seed, out=output, title=expression or "random network")
    out.print(f"wrote {result.figure_path}")
    if result.undefined_note is not None:
        # The figure says it too, but a share of the Gaussian silently dropped is easy to miss.
        _warn(result.undefined_note)


@app.command()
def datasets() -> None:
    """List the built-in data sets, with their true entropy."""
    from pushforward.data.toy2d import get_toy, toy_names

    rows = []
    for name in toy_names():
        toy = get_toy(name)
        entropy = f"{toy.entropy:.4f}" + (f" ± {toy.entropy_se:.4f}" if toy.entropy_se else "")
        rows.append((name, entropy, toy.entropy_method, toy.description))
    _print_table("built-in data sets", ("name", "entropy (nats)", "how", "description"), rows)


@app.command()
def models() -> None:
    """List the model names that `fit --model` accepts."""
    from pushforward.models.base import available_models

    rows = [(entry.name, entry.family, entry.likelihood, entry.summary) for entry in available_models()]
    _print_table("models", ("name", "family", "likelihood", "description"), rows)


def _print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@app.command("compare")
def compare_models(
    data: str = typer.Argument(..., help="A built-in data set (see `pushforward datasets`) or a .npy/.csv file."),
    models: str = typer.Option("nsf,realnvp,maf", "--models", "-m", help="Comma-separated model names."),
    time: Optional[float] = typer.Option(None, "--time", help="Training time per run in seconds (default 60 when no --steps)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training budget per run in optimizer iterations."),
    seeds: int = typer.Option(1, "--seeds", help="Runs per model, with seeds 0, 1, ... (error bars from 2 on)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default runs/compare-<data>)."),
    assignments: Optional[list[str]] = typer.Option(None, "--set", help="A setting for every model (--set n_test=20000) or one (--set nsf.layers=4)."),
    n: int = typer.Option(DEFAULT_EVAL_N, "--n", "-n", help="Samples (and held-out points) for the sample-based metrics."),
    rank_by: str = typer.Option("energy_ratio", "--rank-by", help="Ranking metric: energy_ratio, mmd, c2st_accuracy, test_nll, kl_gap, precision, recall, coverage."),
    force: bool = typer.Option(False, "--force", help="Reuse an existing --out: the runs of this comparison and its report are replaced; other runs there are kept."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the live progress line."),
) -> None:
    """Train several models alike, evaluate them alike, print the ranking and write report.html."""
    from pushforward.comparison import plan_comparison, run_comparison
    from pushforward.hparams import parse_assignments

    settings = parse_assignments(assignments or [])
    plan = plan_comparison(
        data, models, time=time, steps=steps, seeds=seeds, out=out_dir, force=force, settings=settings, eval_n=n, rank_by=rank_by
    )
    board = run_comparison(plan, device=device, progress=progress and sys.stderr.isatty(), log=out.print)
    _print_leaderboard(board)


def _print_leaderboard(board) -> None:
    from rich.markup import escape

    from pushforward.report import number, with_error

    from pushforward.comparison import RANKINGS

    better = "lower" if RANKINGS[board.ranked_by][0] > 0 else "higher"
    table = Table(title=f"{board.data}: ranked by {board.ranked_by} ({better} is better)")
    for column in ("rank", "model", "family", "energy ratio", "C2ST acc.", "precision", "recall", "coverage", "test NLL", "train s", "status"):
        table.add_column(column, justify="left" if column in ("model", "family", "status") else "right")
    for row in board.rows:
        nll = with_error(row, "test_nll")
        if nll != "—" and row.get("test_nll_label") in ("upper bound", "estimate"):
            nll = ("≤ " if row["test_nll_label"] == "upper bound" else "≈ ") + nll
        status = "ok" if row["status"] == "ok" else f"failed: {row.get('reason')}"
        cells = [number(row.get("rank")), row["model"], row["family"]]
        cells += [with_error(row, key) for key in ("energy_ratio", "c2st_accuracy", "precision", "recall", "coverage")]
        cells += [nll, number(row.get("train_seconds")), status]
        table.add_row(*(escape(cell) for cell in cells))
    # Off a terminal (a log, a pipe) rich assumes 80 columns and would cut every cell; a log
    # can be wide.
    (out if out.is_terminal else Console(width=160)).print(table)
    for row in board.rows:
        for warning in row.get("warnings", []):
            _warn(f"{row['model']}, {warning}")
    out.print(f"leaderboard: {board.out / 'leaderboard.json'}")
    out.print(f"report: {board.report}")


@app.command()
def demo(
    time: Optional[float] = typer.Option(None, "--time", help="Total training time in seconds, split evenly across the models (default: what fits in 4.5 minutes with evaluation)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default a new runs/demo/<date>-<time>)."),
    n: int = typer.Option(DEMO_EVAL_N, "--n", "-n", help="Samples (and held-out points) for the sample-based metrics."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out."),
) -> None:
    """The main job: compare one model per registered family on the checkerboard; ends with the report's path."""
    from pushforward.comparison import (
        DEMO_DATA,
        DEMO_SETTINGS,
        default_demo_path,
        demo_models,
        demo_training_seconds,
        plan_comparison,
        run_comparison,
    )

    names, why = demo_models()
    if time is not None and not 0 < time < math.inf:
        raise UserError(f"--time must be positive and finite, not {time}", "give the total training time in seconds, e.g. --time 200")
    target = out_dir if out_dir is not None else default_demo_path()
    # Every input is checked (--out, --n, ...) before the speed probe, which takes 1.6 s on a
    # slow machine: without --time the plan is made with the reference machine's budget, and
    # only its budget is replaced once the probe has timed this machine.
    planned = time if time is not None else demo_training_seconds(len(names))
    plan = plan_comparison(
        DEMO_DATA, names, time=planned / len(names), seeds=1, out=target, force=force, settings=dict(DEMO_SETTINGS), eval_n=n
    )
    machine = ""
    if time is None:
        from pushforward.speed import REFERENCE_PROBE_MS, speed_probe

        probe = speed_probe()
        planned = demo_training_seconds(len(names), probe)
        plan = dataclasses.replace(plan, seconds=planned / len(names))
        if probe > REFERENCE_PROBE_MS:
            machine = f"; less than on a faster machine, as this one's speed probe took {probe:.0f} ms against {REFERENCE_PROBE_MS:.0f}"
    per_model = planned / len(names)
    out.print(
        f"demo plan: {', '.join(names)} ({why}) on the {DEMO_DATA}, {per_model:.0f} s of training each "
        f"({planned:.0f} s in all{machine}), then evaluation on {n:,} samples; output in {plan.out}"
    )
    board = run_comparison(plan, progress=sys.stderr.isatty(), log=out.print)
    _print_leaderboard(board)
    out.print(f"open the report: {board.report}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors, meaningful exit codes, no traceback for bad input."""
    global _interruption_told
    debug = os.environ.get("PUSHFORWARD_DEBUG") == "1"
    _warned.clear()
    _interruption_told = False
    try:
        _refuse_empty_arguments(sys.argv[1:] if argv is None else argv)
        with warnings.catch_warnings():
            warnings.showwarning = _show_python_warning  # restored when the block ends
            code = app(args=argv, prog_name="pushforward", standalone_mode=False)
        if code == EXIT_INTERRUPTED and not _interruption_told:
            # typer turns a KeyboardInterrupt (Ctrl-C outside training, or a second one) into
            # exit code 130 without a word.
            err.print("interrupted")
        return code if isinstance(code, int) else 0
    except UserError as error:
        err.print(f"error: {error.one_line()}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except TrainingDiverged as error:
        err.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except OSError as error:
        if debug:
            raise
        where = f" '{error.filename}'" if error.filename else ""
        err.print(f"error: {error.strerror or error}{where}; check the path and its permissions", markup=False, highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except Exception as error:
        if _is_command_line_error(error):
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else "pushforward"
            message = error.format_message().strip().replace("\n", " ").rstrip(".")  # type: ignore[attr-defined]
            err.print(f"error: {message}; see `{command} --help`", markup=False, highlight=False, soft_wrap=True)
            return EXIT_BAD_INPUT
        if type(error).__name__ == "Abort":
            err.print("interrupted")
            return EXIT_INTERRUPTED
        if debug:
            raise
        err.print(
            f"internal error: {type(error).__name__}: {error}; please report it (PUSHFORWARD_DEBUG=1 shows the traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1


def _refuse_empty_arguments(argv: list[str]) -> None:
    """No argument of this CLI may be empty: ``--out ''`` would otherwise become the current
    folder (a path of '' is '.'), and with ``--force`` a run would be written among its files."""
    for index, argument in enumerate(argv):
        if argument == "":
            where = f"after {argv[index - 1]}" if index > 0 else "as the command"
            raise UserError(f"empty argument {where}", "give it a value, or leave the option out for its default")
        if argument.startswith("--") and argument.endswith("="):
            raise UserError(f"empty value in '{argument}'", "give it a value, or leave the option out for its default")


def _is_command_line_error(error: Exception) -> bool:
    # Typer raises click's exceptions, or since typer 0.2x its vendored copy of them: recognise
    # both by name rather than importing a private module.
    return any(cls.__name__ in ("UsageError", "ClickException") for cls in type(error).__mro__)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
