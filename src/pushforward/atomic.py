"""Atomic file writes: write a temporary file beside the target, then rename it into place.

A crash or Ctrl-C in the middle of a write therefore never leaves a half-written file, and
the old file (if any) stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pushforward.errors import UserError


# The temporary file of a write to NAME is .NAME.<random>.tmp beside it: hidden, and named after
# its target so that one left by a killed process can be told apart from anything else.
TEMPORARY_SUFFIX = ".tmp"
# What mkstemp puts between prefix and suffix: 8 characters of tempfile's alphabet (the tests
# check that the writer's names match, so a change in Python would be noticed).
_TEMPORARY_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}."


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=TEMPORARY_SUFFIX, dir=target.parent)
    except OSError as error:
        # Name the file the user asked for and why its folder fails, not the temporary file.
        raise UserError(f"cannot write '{target}': {_folder_problem(target.parent, error)}", "choose an output path in a folder you can write to") from error
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file private (0600); the result should have the mode a plain
        # open() would give it: an existing file's own, else the user's umask applied to 0666.
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def temporary_target(path: str | os.PathLike[str]) -> Path | None:
    """The file whose write by :func:`atomic_path` made ``path``, if ``path`` is named exactly as
    that write's temporary file (``.NAME.<random>.tmp`` → ``NAME`` beside it); else None.

    A write cleans up after itself, even on an exception or Ctrl-C; only a process killed
    outright (SIGKILL, a power cut) leaves its temporary file behind. Removing one is safe only
    while no other process can be writing its target (a run's files: while holding its lock).
    """
    path = Path(path)
    match = _TEMPORARY_NAME.fullmatch(path.name)
    return path.with_name(match["target"]) if match else None


def _folder_problem(folder: Path, error: OSError) -> str:
    """Why ``folder`` cannot take a new file: a path component that is a file, or the OS's reason."""
    for part in (folder, *folder.parents):
        if part.exists():
            return f"'{part}' is a file, not a folder" if not part.is_dir() else (error.strerror or str(error)).lower()
    return (error.strerror or str(error)).lower()


def _mode_for(target: Path) -> int:
    """The permission bits ``target`` would get from an ordinary write."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    with atomic_path(target) as temporary:
        encoding = None if "b" in mode else "utf-8"
        with open(temporary, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: ``value`` with every non-finite float (in nested dicts and
    lists too) replaced by None, so it is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    with atomic_open(target) as stream:
        json.dump(data, stream, indent=2, sort_keys=False, allow_nan=False, default=_jsonable)
        stream.write("\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
