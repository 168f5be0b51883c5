"""Reading a user's data file: numeric rows from ``.npy`` or ``.csv`` (with a header row).

Nothing here unpickles: ``.npy`` files are read with ``allow_pickle=False``. Every problem with
the file is a one-line :class:`~pushforward.errors.UserError` naming the fix.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pushforward.errors import UserError

SUPPORTED_SUFFIXES = (".npy", ".csv")
MIN_ROWS = 10


@dataclass(frozen=True)
class TableFile:
    """The rows of a data file, with column names when the file has them."""

    values: np.ndarray  # (n, d) float64
    columns: list[str]
    path: Path
    sha256: str


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: str | Path) -> TableFile:
    """Read ``path`` into an (n, d) float64 array, checking it is numeric, finite and 2-D."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UserError(
            f"cannot read '{path}': unsupported file type '{path.suffix or '(none)'}'",
            "give a .npy or .csv file (or a built-in data set name, see `pushforward datasets`)",
        )
    if not path.is_file():
        raise UserError(f"data file '{path}' does not exist", "check the path, or use a built-in data set name")
    if path.suffix.lower() == ".npy":
        values, columns = _read_npy(path)
    else:
        values, columns = _read_csv(path)
    _check_values(values, path)
    return TableFile(values=values, columns=columns, path=path.resolve(), sha256=file_digest(path))


def _read_npy(path: Path) -> tuple[np.ndarray, list[str]]:
    # np.load takes any file without the NumPy header for a pickle, which it then refuses to
    # load: check the header first, so other files are not called "Python objects".
    with open(path, "rb") as stream:
        if stream.read(6) != b"\x93NUMPY":
            raise UserError(f"'{path}' is not a .npy file (it lacks NumPy's header)", "save the array with numpy.save, or give a .csv file")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise UserError(
            f"cannot read '{path}': it holds Python objects, which are never unpickled",
            "save a plain numeric array with numpy.save",
        ) from error
    except Exception as error:  # corrupted header, truncated data, ...
        raise UserError(f"cannot read '{path}' as a .npy array ({error})", "save it again with numpy.save") from error
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise UserError(f"'{path}' holds {array.dtype} values, not real numbers", "save a float array")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise UserError(
            f"'{path}' has shape {array.shape}; expected rows of numbers (n, d)",
            "reshape it to two dimensions, one row per data point",
        )
    columns = [f"x{i + 1}" for i in range(array.shape[1])]
    return array.astype(np.float64), columns


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except UnicodeDecodeError as error:
        raise UserError(f"'{path}' is not a UTF-8 text file", "give a .csv text file with a header row") from error
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise UserError(f"'{path}' has no data rows", "give a header row followed by numeric rows")
    header, body = [cell.strip() for cell in rows[0]], rows[1:]
    if _all_numeric(header):
        raise UserError(f"'{path}' has no header row (its first row is numbers)", "add a header row naming the columns")
    values = np.empty((len(body), len(header)), dtype=np.float64)
    for line_number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise UserError(
                f"'{path}' line {line_number} has {len(row)} values but the header has {len(header)} columns",
                "make every row as long as the header",
            )
        for column, cell in enumerate(row):
            try:
                values[line_number - 2, column] = float(cell)
            except ValueError as error:
                raise UserError(
                    f"'{path}' line {line_number}, column '{header[column]}': '{cell.strip()}' is not a number",
                    "give numeric columns only (encode categories as numbers, or drop the column)",
                ) from error
    return values, header


def _all_numeric(cells: list[str]) -> bool:
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return True


def _check_values(values: np.ndarray, path: Path) -> None:
    if values.shape[0] < MIN_ROWS:
        raise UserError(f"'{path}' has only {values.shape[0]} rows", f"give at least {MIN_ROWS} data points")
    if values.shape[1] < 1:
        raise UserError(f"'{path}' has no columns", "give at least one numeric column")
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise UserError(
            f"'{path}' has {int(bad.sum())} NaN or infinite values (first at row {row + 1}, column {column + 1})",
            "remove or impute them before fitting",
        )
    constant = values.std(axis=0) == 0
    if constant.any():
        raise UserError(
            f"'{path}' column {int(np.argmax(constant)) + 1} is constant, so it has no density",
            "drop constant columns",
        )


def write_table(path: Path, suffix: str, values: np.ndarray, columns: list[str]) -> None:
    """Write samples to ``path`` in the format of ``suffix`` (``.npy`` or ``.csv``).

    The format is passed apart from the path so callers can write to a temporary file and
    rename it into place.
    """
    values = values.astype(np.float32)  # what models compute in, in either format
    if suffix.lower() == ".npy":
        with open(path, "wb") as stream:
            np.save(stream, values, allow_pickle=False)
    else:
        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            # 9 significant digits are the fewest that give back every float32 exactly
            # (ceil(24·log10 2) + 1 = 9); with 7, neighbouring float32s print alike.
            writer.writerows([f"{v:.9g}" for v in row] for row in values.tolist())
