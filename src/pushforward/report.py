"""The comparison report: one self-contained HTML file (inline CSS, figures as base64 PNG).

It needs no network and no other file to be viewed, so it can be mailed or attached as it is.
Sections: how the models were ranked; the leaderboard with uncertainties and the noise floors
(the same metrics between two real samples); the training curves of all models on shared axes;
then for each model its density (or samples) beside the data at the same scale, its own
training curves, and the compute it used.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushforward.atomic import atomic_open
from pushforward.evaluation import CLASSIFIER_POINTS, PERMUTATION_POINTS, PRDC_POINTS
from pushforward.runs import FIGURES, RunDirectory

if TYPE_CHECKING:
    from pushforward.comparison import Leaderboard

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.88em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.55em; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; } td.name, th.name { text-align: left; }
tr.floor td { background: #fafafa; color: #555; font-style: italic; }
tr.failed td { background: #fff1f0; }
td.reason { text-align: left; white-space: normal; max-width: 28em; color: #a8071a; }
.meta { color: #555; } .note { color: #555; font-size: 0.9em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
"""

# (column title, metric key, digits); "±" comes from <key>_se, p-values from the named key.
_COLUMNS: list[tuple[str, str, str | None]] = [
    ("energy ratio ↓", "energy_ratio", None),
    ("energy distance", "energy_distance", "energy_p_value"),
    ("MMD² ↓", "mmd", "mmd_p_value"),
    ("C2ST accuracy (0.5 best)", "c2st_accuracy", "c2st_p_value"),
    ("precision ↑", "precision", None),
    ("recall ↑", "recall", None),
    ("density", "density", None),
    ("coverage ↑", "coverage", None),
    ("test NLL (nats) ↓", "test_nll", None),
    ("KL gap ↓", "kl_gap", None),
]
_COMPUTE: list[tuple[str, str]] = [("train s", "train_seconds"), ("steps", "train_steps"), ("sample s", "sample_seconds")]
_FLOORS = {
    "energy_ratio": 1.0,
    "energy_distance": "energy_floor",
    "mmd": "mmd_floor",
    "c2st_accuracy": 0.5,
    "precision": "precision_floor",
    "recall": "recall_floor",
    "density": "density_floor",
    "coverage": "coverage_floor",
}


def number(value: Any, digits: int = 3) -> str:
    """A number in ``digits`` significant figures, trailing zeros kept (a ratio of 1.0004 reads
    "1.00", not "1", beside ratios of 0.983); None (or NaN) as "—", never 0."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if float(value).is_integer() and abs(value) >= 1000:
        # whole counts (steps, as a mean over seeds) in full rather than as 1.51e+03
        return f"{int(value):,}"
    text = f"{float(value):#.{digits}g}"
    return text[:-1] if text.endswith(".") else text  # "123." from the '#' form


def with_error(row: dict[str, Any], key: str) -> str:
    value, error = row.get(key), row.get(f"{key}_se")
    if value is None:
        return "—"
    text = number(value)
    if error is not None and math.isfinite(error) and error > 0:
        text += f" ± {number(error, 2)}"
    return text


def _nll_cell(row: dict[str, Any]) -> str:
    text = with_error(row, "test_nll")
    label = row.get("test_nll_label")
    if text != "—" and label == "upper bound":
        text = "≤ " + text
    elif text != "—" and label == "estimate":
        text = "≈ " + text
    return text


def _cell(row: dict[str, Any], key: str, p_key: str | None) -> str:
    if key == "test_nll":
        return _nll_cell(row)
    text = with_error(row, key)
    if p_key is not None and row.get(p_key) is not None and text != "—":
        text += f" (p {number(row[p_key], 2)})"
    return text


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _figure(png: bytes | None, alt: str, caption: str) -> str:
    if png is None:
        return f"<p class=\"note\">{html.escape(caption)}: no figure.</p>"
    return f"<figure>{_image(png, alt)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _read_png(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(b"\x89PNG") else None


def _curves_png(board: Leaderboard) -> bytes | None:
    """Validation score against training seconds, every model (first finished seed) on one plot
    per score name, so curves in the same units share axes."""
    from pushforward.viz._common import new_figure

    curves: dict[str, list[tuple[str, list[float], list[float]]]] = {}
    for row in board.rows:
        if row["status"] != "ok" or row.get("run") is None:
            continue
        history = RunDirectory(row["run"]).read_history()
        columns = [c for c in (history[0] if history else {}) if c.startswith("val")]
        for column in columns:
            points = [(h.get("time", math.nan), h.get(column, math.nan)) for h in history]
            points = [(t, v) for t, v in points if math.isfinite(t) and math.isfinite(v)]
            if points:
                curves.setdefault(column, []).append((row["model"], [p[0] for p in points], [p[1] for p in points]))
    if not curves:
        return None
    figure = new_figure(5.2 * len(curves) + 0.6, 4.0)
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    for ax, (column, series) in zip(axes, curves.items()):
        for index, (model, x, y) in enumerate(series):
            ax.plot(x, y, marker="o", markersize=3, linewidth=1.4, color=f"C{index % 10}", label=model)
        ax.set_xlabel("training time (s)")
        ax.set_ylabel(column)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def render_report(board: Leaderboard) -> str:
    """The report as one HTML string."""
    e = html.escape
    budget = board.budget
    parts = []
    if budget.get("seconds") is not None:
        parts.append(f"{number(budget['seconds'])} s")
    if budget.get("steps") is not None:
        parts.append(f"{number(budget['steps'])} steps")
    budget_text = " or ".join(parts) + " per run (whichever ends first)"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>pushforward comparison on {e(board.data)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>pushforward comparison on {e(board.data)}</h1>",
        f"<p class=\"meta\">{len(board.models)} models × {board.seeds} seed(s); budget {e(budget_text)}; "
        f"sample metrics on n = {board.eval_n:,} samples and held-out points (at most {PERMUTATION_POINTS:,} of them for "
        f"the energy and MMD tests, {CLASSIFIER_POINTS:,} for C2ST, {PRDC_POINTS:,} for precision/recall/density/coverage); total {board.total_seconds:.0f} s; written {e(time.strftime('%Y-%m-%d %H:%M:%S'))}.</p>",
        f"<p><b>Ranked by {e(board.ranked_by)}</b>: {e(board.ranking)}. Test NLL is shown where a model has a "
        "likelihood (≤ marks an upper bound, ≈ an estimate) but does not rank, since not every family has one. "
        "“—” means the model does not have the metric. With one seed, ± is the metric’s own standard error; "
        "with several, the standard error over seeds; (p …) is the two-sample test’s p-value (median over seeds): "
        "small means the samples can be told from real data.</p>",
        "<h2>Leaderboard</h2>",
        _table(board),
    ]
    curves = _curves_png(board)
    if curves is not None:
        out += ["<h2>Training curves</h2>", _figure(curves, "validation curves", "validation score against training time, first seed of each model: likelihoods (…_data) in nats of the data's units, other scores in each model's standardised space")]
    out.append("<h2>Models</h2>")
    for row in board.rows:
        out.append(_model_section(row))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _table(board: Leaderboard) -> str:
    e = html.escape
    head = ['<th>rank</th>', '<th class="name">model</th>', '<th class="name">family</th>']
    head += [f"<th>{e(title)}</th>" for title, _, _ in _COLUMNS]
    head += [f"<th>{e(title)}</th>" for title, _ in _COMPUTE]
    head.append('<th class="name">status</th>')
    lines = ["<table>", "<thead><tr>" + "".join(head) + "</tr></thead>", "<tbody>"]
    for row in board.rows:
        failed = row["status"] != "ok"
        cells = [f"<td>{number(row.get('rank'))}</td>", f'<td class="name">{e(row["model"])}</td>', f'<td class="name">{e(row["family"])}</td>']
        cells += [f"<td>{e(_cell(row, key, p_key))}</td>" for _, key, p_key in _COLUMNS]
        cells += [f"<td>{e(with_error(row, key))}</td>" for _, key in _COMPUTE]
        if failed:
            status = f"failed: {row.get('reason') or 'unknown reason'}"
        elif row.get("seeds_failed"):
            status = f"ok on {row['seeds_ok']} seed(s), failed on {row['seeds_failed']}: {row.get('reason')}"
        else:
            status = "ok"
        cells.append(f'<td class="name reason">{e(status)}</td>' if status != "ok" else '<td class="name">ok</td>')
        lines.append(f'<tr class="{"failed" if failed else "ok"}">' + "".join(cells) + "</tr>")
    reference = next((r for r in board.rows if r["status"] == "ok"), None)
    if reference is not None:
        cells = ["<td></td>", '<td class="name">real vs real</td>', '<td class="name">noise floor</td>']
        for _, key, _ in _COLUMNS:
            floor = _FLOORS.get(key)
            value = floor if isinstance(floor, float) else (reference.get(floor) if floor else None)
            cells.append(f"<td>{e(number(value)) if value is not None else ''}</td>")
        cells += ["<td></td>"] * (len(_COMPUTE) + 1)
        lines.append('<tr class="floor">' + "".join(cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _model_section(row: dict[str, Any]) -> str:
    e = html.escape
    title = f"{row['model']} ({row['family']})"
    parts = [f"<h3>{e(title)}</h3>"]
    if row["status"] != "ok":
        parts.append(f'<p class="reason">failed: {e(row.get("reason") or "unknown reason")}</p>')
        return "\n".join(parts)
    parts += [f'<p class="reason">warning: {e(warning)}</p>' for warning in row.get("warnings", [])]
    run = Path(row["run"])
    compute = (
        f"training {with_error(row, 'train_seconds')} s for {with_error(row, 'train_steps')} steps; "
        f"sampling {with_error(row, 'sample_seconds')} s; evaluation {with_error(row, 'eval_seconds')} s "
        f"(mean over {row['seeds_ok']} seed(s)). Run directory: {run}"
    )
    parts.append(f'<p class="meta">{e(compute)}</p>')
    parts.append(_figure(_read_png(run / FIGURES / "density.png"), f"{row['model']} beside the data", "data beside the model on the same axes (a table: column by column); first seed"))
    parts.append(_figure(_read_png(run / FIGURES / "history.png"), f"{row['model']} training curves", "training curves; first seed"))
    return "\n".join(parts)


def write_report(board: Leaderboard, path: str | Path) -> Path:
    """Write :func:`render_report` to ``path`` atomically; returns the path."""
    target = Path(path)
    with atomic_open(target) as stream:
        stream.write(render_report(board))
    return target
