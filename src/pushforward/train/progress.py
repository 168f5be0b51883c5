"""A live progress line: loss, validation score, iterations per second and time left."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn


class TrainingProgress:
    """Wraps rich's progress bar; does nothing when ``enabled`` is false (tests, scripts)."""

    def __init__(self, enabled: bool, description: str, console: Console | None = None) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[status]}"),
                console=console or Console(stderr=True),
                transient=False,
                refresh_per_second=4,
            )
            self._task = self._progress.add_task(description, total=1.0, status="")

    def __enter__(self) -> TrainingProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, fraction: float, *, loss: float, score: float | None, score_name: str, rate: float, left: float) -> None:
        if self._progress is None:
            return
        score_text = f"{score_name} {score:.4f}" if score is not None else f"{score_name} –"
        status = f"loss {loss:.4f} · {score_text} · {rate:,.0f} it/s · {left:,.0f} s left"
        self._progress.update(self._task, completed=fraction, status=status)
