"""Reading a user's data file: numeric rows from ``.npy`` or ``.csv`` (with a header row).

Nothing here unpickles: ``.npy`` files are read with ``allow_pickle=False``. Every problem with
the file is a one-line :class:`~pushforward.errors.UserError` naming the fix.

Two kinds of check: those without which the file gives no array a density can be evaluated on
(a missing file, a cell that is not a number, a NaN, a value float32 makes infinite, a constant
column, too few rows) refuse it always; those that protect a *new fit* from
data it would model badly or label ambiguously (column names, float32's precision) refuse it
for a fit, but only report their problems when the data of a run already fitted are read again
(``read_table(path, new_fit=False)``): a run fitted before such a check existed stays readable.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pushforward.errors import UserError
from pushforward.names import DATA_FILE_SUFFIXES

SUPPORTED_SUFFIXES = DATA_FILE_SUFFIXES  # named where `fit` checks its DATA before importing torch
MIN_ROWS = 10


@dataclass(frozen=True)
class TableFile:
    """The rows of a data file, with column names when the file has them."""

    values: np.ndarray  # (n, d) float64
    columns: list[str]
    path: Path
    sha256: str
    # What a new fit would refuse in the file, when it was read for a run already fitted
    # (read_table's new_fit=False); always empty for a new fit, which raises the first instead.
    fit_refusals: tuple[UserError, ...] = ()


@dataclass
class _FitChecks:
    """Where the checks that protect only a new fit report a problem: raised at once for a new
    fit; kept, to be warned of, when an existing run's data are read again."""

    new_fit: bool
    found: list[UserError] = field(default_factory=list)

    def refuse(self, problem: UserError) -> None:
        if self.new_fit:
            raise problem
        self.found.append(problem)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: str | Path, *, new_fit: bool = True) -> TableFile:
    """Read ``path`` into an (n, d) float64 array, checking it is numeric, finite and 2-D.

    ``new_fit`` False reads the data of a run already fitted: the problems of the checks that
    protect only a new fit (see the module's docstring) are then returned in
    :attr:`TableFile.fit_refusals` instead of raised, so the run can still be evaluated."""
    path = Path(path)
    checks = _FitChecks(new_fit)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UserError(
            f"cannot read '{path}': unsupported file type '{path.suffix or '(none)'}'",
            "give a .npy or .csv file (or a built-in data set name, see `pushforward datasets`)",
        )
    if not path.is_file():
        raise UserError(f"data file '{path}' does not exist", "check the path, or use a built-in data set name")
    if path.suffix.lower() == ".npy":
        values, columns = _read_npy(path)
        lines = None
    else:
        values, columns, lines = _read_csv(path, checks)
    _check_values(values, columns, path, lines, checks)
    return TableFile(
        values=values, columns=columns, path=path.resolve(), sha256=file_digest(path), fit_refusals=tuple(checks.found)
    )


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


def _read_csv(path: Path, checks: _FitChecks) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The values, the header's names and, for each row, its line in the file (counting blank
    lines, which are skipped, so that errors point where an editor shows the row)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            # reader.line_num is the file line a row ends on (a quoted cell may span lines).
            numbered = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as error:
        raise UserError(f"'{path}' is not a UTF-8 text file", "give a .csv text file with a header row") from error
    if len(numbered) < 2:
        raise UserError(f"'{path}' has no data rows", "give a header row followed by numeric rows")
    header, body = [cell.strip() for cell in numbered[0][1]], numbered[1:]
    if _all_numeric(header):
        raise UserError(f"'{path}' has no header row (its first row is numbers)", "add a header row naming the columns")
    _check_names(header, path, checks)
    values = np.empty((len(body), len(header)), dtype=np.float64)
    lines = np.array([line for line, _ in body], dtype=np.int64)
    # An empty cell is a missing value, not a category: count them all for the message, and
    # report whichever problem comes first in the file.
    missing, first_missing = 0, None
    for index, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise UserError(
                f"'{path}' line {line} has {len(row)} values but the header has {len(header)} columns",
                "make every row as long as the header",
            )
        for column, cell in enumerate(row):
            try:
                values[index, column] = float(cell)
            except ValueError as error:
                if cell.strip().lower() in MISSING_MARKERS:
                    missing += 1
                    first_missing = first_missing or (line, header[column])
                    continue
                if first_missing is not None:
                    continue  # the missing values come first; keep counting them
                raise UserError(
                    f"'{path}' line {line}, column '{header[column]}': '{cell.strip()}' is not a number",
                    "give numeric columns only (encode categories as numbers, or drop the column)",
                ) from error
    if first_missing is not None:
        line, name = first_missing
        raise UserError(
            f"'{path}' has {_count(missing, 'missing value')} (empty cells or markers such as NA; the first at "
            f"line {line}, column '{name}')",
            "remove or impute the rows with missing values",
        )
    return values, header, lines


# How spreadsheets, R and pandas write a missing value into a CSV (besides an empty cell). "nan"
# is not here: float() reads it, and the NaN check reports it.
MISSING_MARKERS = frozenset({"", "na", "n/a", "null", "none", "?", "-", "#n/a"})


def _check_names(header: list[str], path: Path, checks: _FitChecks) -> None:
    """Every column needs a name of its own: the names are kept in the run's config.json, label
    the figures and head the columns of sampled CSVs, where a blank or repeated one is ambiguous.
    (Ambiguous, not unreadable: a fit is refused, an existing run's data are still read.)"""
    for index, name in enumerate(header):
        if not name:
            checks.refuse(UserError(
                f"'{path}' header has no name for column {index + 1}",
                "name every column in the header row (or drop the column if it is empty)",
            ))
        elif name in header[:index]:
            checks.refuse(UserError(
                f"'{path}' header names two columns '{name}' (columns {header.index(name) + 1} and {index + 1})",
                "give every column its own name",
            ))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _all_numeric(cells: list[str]) -> bool:
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return True


def _check_values(values: np.ndarray, columns: list[str], path: Path, lines: np.ndarray | None, checks: _FitChecks) -> None:
    """Refuse what no density fits: too few rows, no columns, NaN or infinite values, values
    float32 turns into ±inf and constant columns; and for a new fit (``checks``) columns float32
    holds too coarsely. ``lines`` are a CSV's file lines of the rows (None for .npy: rows)."""
    if values.shape[0] < MIN_ROWS:
        raise UserError(f"'{path}' has only {values.shape[0]} rows", f"give at least {MIN_ROWS} data points")
    if values.shape[1] < 1:
        raise UserError(f"'{path}' has no columns", "give at least one numeric column")
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        where = f"line {lines[row]}" if lines is not None else f"row {row + 1}"
        raise UserError(
            f"'{path}' has {_count(int(bad.sum()), 'NaN or infinite value')} (the first at {where}, column '{columns[column]}')",
            "remove or impute them before fitting",
        )
    _check_float32_range(values, columns, path)
    spreads = values.std(axis=0)
    constant = [name for name, spread in zip(columns, spreads) if spread == 0]
    if constant:
        names = ", ".join(f"'{name}'" for name in constant)
        several = len(constant) > 1
        raise UserError(
            f"'{path}' {'columns' if several else 'column'} {names} {'are' if several else 'is'} constant, so "
            f"{'they have' if several else 'it has'} no density",
            f"drop {'them' if several else 'it'}",
        )
    _check_float32_precision(values, spreads, columns, path, checks)


# Models compute in float32 (source.py turns the data into float32 tensors), whose largest value
# is FLOAT32_MAX and whose significand has 24 bits: near a value x consecutive float32s are
# 2^(floor(log2|x|) − 23) ≤ |x|·2⁻²³ apart, and never less than 2⁻¹⁴⁹ (the subnormals' step).
# A column is held on a grid with that step at its largest magnitude. We want it fine beside the
# column's spread: a step of at most 1 % of the standard deviation adds rounding noise of variance
# step²/12 ≤ 10⁻⁴/12 of the column's, invisible to any model, while coarser grids turn the column
# into a few discrete levels (1.7e9 ± 50, epoch seconds, lands on steps of 128: nearly every value
# is one of three numbers) and bias the standardisation's scale. With the bound |x|·2⁻²³ the rule
# is max|x| / sd ≤ 2²³ / 100 ≈ 83,886 (and sd ≥ 100·2⁻¹⁴⁹ ≈ 1.4e-43). Ordinary columns sit far
# inside it: max|x| / sd is at most a few dozen for data that vary by more than a few percent of
# their size (1e5 ± 1e4 gives about 15), and max|x − mean| / sd ≤ sqrt(n − 1) for any column, so
# only a large offset (or more than 7e9 rows) can cross it, or a spread below float32's finest step.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_BITS = 23  # stored significand bits
FLOAT32_SMALLEST_STEP = 2.0**-149
MAX_STEP_PER_SD = 0.01


def _check_float32_range(values: np.ndarray, columns: list[str], path: Path) -> None:
    """Refuse values float32 would turn into ±inf (which then break training and the run's JSON).
    Always: no run can have been fitted on them (its standardisation is not finite, so its
    config.json was never written), and no evaluation could give a number."""
    peaks = np.abs(values).max(axis=0)
    for name, peak in zip(columns, peaks):
        if peak > FLOAT32_MAX:
            raise UserError(
                f"'{path}' column '{name}' has values beyond float32's range (up to {peak:.3g}; float32, which "
                f"models compute in, holds at most {FLOAT32_MAX:.3g})",
                f"rescale the column (e.g. {name} / {_power_of_ten(math.ceil(math.log10(peak)))})",
            )


def _check_float32_precision(
    values: np.ndarray, spreads: np.ndarray, columns: list[str], path: Path, checks: _FitChecks
) -> None:
    """Refuse a column that float32 rounds on a grid coarser than 1 % of its standard deviation
    (see the derivation above): the model would learn the grid, not the data. A run already
    fitted on such a column learnt that grid, and is evaluated on it as it was (``checks``)."""
    peaks = np.abs(values).max(axis=0)
    steps = np.maximum(peaks * 2.0**-FLOAT32_BITS, FLOAT32_SMALLEST_STEP)
    for index, name in enumerate(columns):
        peak, spread = float(peaks[index]), float(spreads[index])
        if steps[index] <= MAX_STEP_PER_SD * spread:
            continue
        actual = float(np.spacing(np.float32(peak)))  # the real step there, for the message
        problem = (
            f"'{path}' column '{name}' cannot be held in float32, which models compute in: its values reach "
            f"{peak:.3g}, where float32's step is {actual:.3g}, coarse beside its standard deviation of {spread:.3g}"
        )
        mean = float(values[:, index].mean())
        if abs(mean) * 2.0**-FLOAT32_BITS > MAX_STEP_PER_SD * spread:
            # An offset: subtracting the mean, rounded to the spread's power of ten, leaves values
            # within a few standard deviations of zero.
            offset = round(mean, -math.floor(math.log10(spread)))
            fix = f"subtract an offset (e.g. {name} - {_plain(offset)}) or rescale the column"
        else:
            # Values too small for float32's finest step: bring the spread to about 1.
            fix = f"rescale the column (e.g. {name} * {_power_of_ten(-math.floor(math.log10(spread)))})"
        checks.refuse(UserError(problem, fix))


def _power_of_ten(exponent: int) -> str:
    return f"1e{exponent}"


def _plain(value: float) -> str:
    """A number as a user would type it: positional when not huge or tiny."""
    if 1e-4 <= abs(value) < 1e16:
        return np.format_float_positional(value, trim="-")
    return f"{value:.12g}".replace("e+", "e")


# A column with this many distinct values or fewer (flags, category codes, ratings, small counts)
# is a handful of point masses, not a sample of a density: spread over the column's ±3 sd its
# levels are at least 0.6 sd apart, wider than the bumps a smooth density puts on them, so a
# model that sharpens onto the levels drives its likelihood up without bound and NLLs on such a
# column mean little. Integer columns with more levels (ages, larger counts) sit closer than
# that, and are commonly modelled as continuous on purpose. The levels must also repeat (at
# most half as many values as rows), so a short file of continuous values is not taken for one.
FEW_VALUES = 10


def few_valued_columns(table: TableFile) -> dict[str, int]:
    """The columns with at most :data:`FEW_VALUES` distinct values that repeat (at most half as many
    values as rows), with their counts of distinct values."""
    rows = table.values.shape[0]
    counts = {name: len(np.unique(table.values[:, index])) for index, name in enumerate(table.columns)}
    return {name: count for name, count in counts.items() if count <= FEW_VALUES and 2 * count <= rows}


def few_values_warning(table: TableFile) -> str | None:
    """One line naming the columns of :func:`few_valued_columns` and what to do, or None."""
    few = few_valued_columns(table)
    if not few:
        return None
    if len(few) == 1:
        [(name, count)] = few.items()
        subject, them = f"column '{name}' has only {count} distinct values", "it"
    else:
        listed = ", ".join(f"'{name}' ({count} values)" for name, count in few.items())
        subject, them = f"columns {listed} have only a few distinct values each", "them"
    return (
        f"{subject}: a likelihood there mixes point masses with a density, and grows without bound "
        f"as a model sharpens onto the values, so NLLs mislead; dequantise {them} (add uniform noise as "
        f"wide as the gap between values) or model {them} apart"
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
