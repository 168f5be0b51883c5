"""Run directories: a fitted model as safe files only.

::

    RUN/
      config.json              model name, hyperparameters, training settings, data, seed, version
      model.safetensors        the kept (best) weights and buffers: tensors, nothing executable
      history.csv              one row per validation: step, time, lr, losses, validation score
                               (a likelihood in the data's units, named ``<score>_data``)
      metrics.json             training summary and evaluation results
      checkpoint.safetensors   the latest weights, optimizer and RNG state (for --resume), with
                               the trainer's counters as JSON in the file's metadata
      figures/                 PNG figures

Every file is written atomically (temporary file, then rename), so an interrupted write never
leaves a half-written file, and loading never unpickles anything.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from pushforward.atomic import atomic_open, atomic_path, finite_or_none, temporary_target, write_json
from pushforward.errors import UserError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.safetensors"
FIGURES = "figures"
LOCK = ".pushforward.lock"  # "<pid> <host> <fitted|evaluated|plotted>" of the process writing the run
RUN_FILES = (CONFIG, WEIGHTS, HISTORY, METRICS, CHECKPOINT)  # the run's own files, beside figures/
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".gif")  # the files in figures/ that are the run's


def default_run_path(data_label: str, model: str, root: Path = Path("runs")) -> Path:
    """``runs/<data>-<model>``, or the first free ``-2``, ``-3``, ... so nothing is overwritten."""
    base = root / f"{data_label}-{model}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


class RunDirectory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def check_new(path: str | Path, *, force: bool = False) -> None:
        """Raise unless ``path`` can hold a new run (absent, empty, or replaced with ``force``)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"'{path}' exists and is not a directory", "choose another --out")
        # Where the directory would be made: said before the data are loaded, in the user's words.
        folder = next((part for part in path.absolute().parents if part.exists()), None)
        if not path.exists() and folder is not None:
            shown = next((part for part in path.parents if part.absolute() == folder), folder)
            if not folder.is_dir():
                raise UserError(f"cannot make '{path}': '{shown}' is a file, not a folder", "choose another --out")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise UserError(f"cannot make '{path}': folder '{shown}' is not writable", "choose another --out")
        if path.is_dir() and any(path.iterdir()) and not force:
            raise UserError(
                f"output directory '{path}' already exists",
                "choose another --out, continue it with --resume, or replace it with --force",
            )

    @classmethod
    def create(cls, path: str | Path, *, force: bool = False) -> RunDirectory:
        """A new run in ``path``, locked for this process (see :meth:`lock`)."""
        cls.check_new(path, force=force)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.lock()
        if force:
            run._clear()
            run.remove_leftover_temporaries()
        return run

    # -- one process at a time -------------------------------------------------------------

    def lock(self, purpose: str = "fitted") -> None:
        """Claim the run for this process until :meth:`unlock`: a second ``fit`` into it (with
        ``--force`` or ``--resume``, or started at the same moment), or an ``eval`` or ``plot``
        that writes into it, is refused instead of clearing, interleaving or losing the files
        of the one that is running. ``purpose`` (``fitted``, ``evaluated`` or ``plotted``) is
        written in the lock, so a refusal says what the other process is doing. A lock whose
        process has ended (a SIGKILL) is taken over."""
        if purpose not in _REFUSED_FIX:
            raise ValueError(f"a run is locked to be {', '.join(_REFUSED_FIX)}, not {purpose!r}")
        target = self.path / LOCK
        for _ in range(3):
            try:
                handle = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner, doing = _lock_owner(target)
                if owner is None or _process_alive(owner):
                    holder = f" (process {owner})" if owner is not None else ""
                    raise UserError(
                        f"'{self.path}' is being {doing} by another pushforward{holder}",
                        f"{_REFUSED_FIX[purpose]} (if no pushforward is running there, delete '{target}')",
                    ) from None
                target.unlink(missing_ok=True)  # its process has ended
                continue
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(f"{os.getpid()} {socket.gethostname()} {purpose}\n")
            self._locked = True
            _HELD.add(self.path.resolve())
            return
        raise UserError(f"cannot lock '{self.path}'", "try again")

    def fitting_process(self) -> int | None:
        """The pid of another live process of this host fitting the run, or None."""
        owner, doing = _lock_owner(self.path / LOCK) if (self.path / LOCK).is_file() else (None, "")
        if owner is None or owner == os.getpid() or doing != "fitted" or not _process_alive(owner):
            return None
        return owner

    def unlock(self) -> None:
        if getattr(self, "_locked", False):
            (self.path / LOCK).unlink(missing_ok=True)
            self._locked = False
            _HELD.discard(self.path.resolve())

    @contextlib.contextmanager
    def locked(self, purpose: str) -> Iterator[None]:
        """Hold the run's lock (see :meth:`lock`) for the block, released however it ends. If
        this process holds it already (``fit`` drawing its figures, or a command that took it
        for all its writes), the block runs under that lock."""
        if self.path.resolve() in _HELD:
            yield
            return
        self.lock(purpose)
        try:
            yield
        finally:
            self.unlock()

    def locked_while_writing_figures(self, *outputs: str | Path | None) -> contextlib.AbstractContextManager[None]:
        """Hold the lock (as ``plotted``) if any of ``outputs`` goes into the run: None (its
        figures/) or a path inside its folder. A fit of the run replaces its figures and clears
        them with --force, so it must not run meanwhile; figures written elsewhere only read the
        run, which needs no lock (a run can be plotted while it trains)."""
        if any(out is None or self.contains(out) for out in outputs):
            return self.locked("plotted")
        return contextlib.nullcontext()

    def _clear(self) -> None:
        """Remove a replaced run's own files (only those: anything else the user put there stays),
        so nothing stale, such as an old evaluation in metrics.json, mixes into the new run."""
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        if self.figures.is_dir():
            for figure in self.figures.iterdir():
                if figure.is_file() and figure.suffix.lower() in FIGURE_SUFFIXES:
                    figure.unlink()

    def remove_leftover_temporaries(self) -> list[Path]:
        """Remove the temporary files that atomic writes of the run's own files left behind
        when their process was killed outright (SIGKILL), and return them. Nothing else goes:
        only files named exactly as the writer names them (``.NAME.<random>.tmp``), and only for
        the run's files (config, weights, history, metrics, checkpoint, figures). Call it only
        while holding the run's lock, so no other process is writing them now."""
        assert getattr(self, "_locked", False), "remove temporaries only while holding the run's lock"
        removed = []
        for folder, belongs in ((self.path, lambda name: name in RUN_FILES),
                                (self.figures, lambda name: Path(name).suffix.lower() in FIGURE_SUFFIXES)):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                target = temporary_target(entry)
                if target is not None and belongs(target.name) and entry.is_file() and not entry.is_symlink():
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
        return sorted(removed)

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"'{path}' is a file, not a run directory", "give the --out directory of a `pushforward fit`")
        if not path.is_dir():
            raise UserError(f"run directory '{path}' does not exist", "give the --out directory of a `pushforward fit`")
        if not (path / CONFIG).is_file():
            raise UserError(f"'{path}' is not a run directory (no {CONFIG})", "give the --out directory of a `pushforward fit`")
        return cls(path)

    # -- files -----------------------------------------------------------------------------

    def contains(self, path: str | Path) -> bool:
        """Whether ``path`` lies inside the run's folder (links and ``..`` resolved)."""
        return Path(path).resolve().is_relative_to(self.path.resolve())

    @property
    def figures(self) -> Path:
        return self.path / FIGURES

    def read_config(self) -> dict[str, Any]:
        return self._read_json(CONFIG)

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.path / CONFIG, config)

    def save_weights(self, state: dict[str, Tensor], name: str = WEIGHTS, metadata: dict[str, str] | None = None) -> None:
        # Clone so tied or strided tensors are stored as independent contiguous blocks.
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
        with atomic_path(self.path / name) as temporary:
            save_file(tensors, str(temporary), metadata=metadata)

    def load_weights(self, name: str = WEIGHTS, device: str | torch.device = "cpu") -> dict[str, Tensor]:
        target = self.path / name
        if not target.is_file():
            fitter = self.fitting_process()
            if fitter is not None:
                raise UserError(
                    f"'{self.path}' has no {name} yet: another pushforward (process {fitter}) is fitting it "
                    "and saves weights at its first validation",
                    "wait a few seconds and try again",
                )
            raise UserError(f"'{self.path}' has no {name}", "the run did not finish saving; fit it again or --resume it")
        try:
            return load_file(str(target), device=str(device))
        except (SafetensorError, OSError, ValueError) as error:
            fix = "the file is damaged; fit the run again"
            if name != WEIGHTS and (self.path / WEIGHTS).is_file():
                # Only --resume reads the checkpoint: the model itself is still good.
                fix = (f"the file is damaged, but the run's model ({WEIGHTS}) is intact: eval, sample and plot still "
                       f"work; only --resume needs {name}, so to train longer fit a new run (another --out)")
            raise UserError(f"cannot read '{target}' ({error})", fix) from error

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).is_file()

    def save_checkpoint(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        # One file holds both the tensors and the counters (as JSON metadata), so they are
        # replaced together, atomically, and can never disagree.
        self.save_weights(tensors, CHECKPOINT, metadata={"trainer": json.dumps(finite_or_none(meta))})

    def load_checkpoint(self, device: str | torch.device = "cpu") -> tuple[dict[str, Tensor], dict[str, Any]]:
        if not self.has_checkpoint():
            raise UserError(f"'{self.path}' has no checkpoint to resume from", "start a new run without --resume")
        tensors = self.load_weights(CHECKPOINT, device=device)
        with safe_open(str(self.path / CHECKPOINT), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if "trainer" not in metadata:
            raise UserError(f"'{self.path / CHECKPOINT}' has no trainer state", "start a new run without --resume")
        return tensors, json.loads(metadata["trainer"])

    def write_history(self, rows: list[dict[str, float]]) -> None:
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _format_number(v) for k, v in row.items()})
        with atomic_open(self.path / HISTORY) as stream:
            stream.write(buffer.getvalue())

    def read_history(self) -> list[dict[str, float]]:
        target = self.path / HISTORY
        if not target.is_file():
            return []
        rows: list[dict[str, float]] = []
        reader = None
        try:
            with open(target, newline="", encoding="utf-8") as stream:
                reader = csv.DictReader(stream)
                for row in reader:
                    if None in row or None in row.values():
                        raise ValueError(f"{len(reader.fieldnames or [])} columns expected")
                    rows.append({k: float(v) if v != "" else math.nan for k, v in row.items()})
        except (ValueError, UnicodeDecodeError, csv.Error) as error:
            where = f" on line {reader.line_num}" if reader is not None and reader.line_num else ""
            raise UserError(
                f"'{target}' is damaged{where} ({error})", f"delete {HISTORY} (the run's curves are lost, the model is not) or fit the run again"
            ) from error
        return rows

    def read_metrics(self) -> dict[str, Any]:
        if not (self.path / METRICS).is_file():
            return {}
        metrics = self._read_json(METRICS, f"delete {METRICS} (it holds the training summary and the last evaluation; the model is intact)")
        if not isinstance(metrics, dict):
            raise UserError(f"'{self.path / METRICS}' is not a JSON object", f"delete {METRICS}; the model is intact")
        return metrics

    def update_metrics(self, section: str, values: dict[str, Any]) -> None:
        metrics = self.read_metrics()
        metrics[section] = values
        write_json(self.path / METRICS, finite_or_none(metrics))

    def _read_json(self, name: str, damaged: str = "the run is damaged; fit it again") -> dict[str, Any]:
        target = self.path / name
        try:
            with open(target, encoding="utf-8") as stream:
                return json.load(stream)
        except FileNotFoundError as error:
            raise UserError(f"'{self.path}' has no {name}", "give the --out directory of a `pushforward fit`") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"'{target}' is not valid JSON ({error})", damaged) from error


# What each locking command can do when another process holds the run.
_REFUSED_FIX = {
    "fitted": "wait for it to finish or choose another --out",
    "evaluated": "wait for it to finish",
    "plotted": "wait for it to finish, or write the figure outside the run with -o FILE",
}
# The runs this process holds the lock of (resolved paths): a nested `locked` does not lock again.
_HELD: set[Path] = set()


def _lock_owner(target: Path) -> tuple[int | None, str]:
    """The pid in a lock file written on this host (None: unreadable, or another host's), and
    what its process is doing to the run (a lock written before it said so: fitting it)."""
    try:
        pid, host, *doing = target.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return None, "fitted"
    what = doing[0] if len(doing) == 1 and doing[0] in _REFUSED_FIX else "fitted"
    try:
        return (int(pid) if host == socket.gethostname() else None), what
    except ValueError:
        return None, what


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _format_number(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.8g}"
    return value

