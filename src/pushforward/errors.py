"""Errors that a user can act on.

Every problem caused by the user's input (a name, a file, a value) is a :class:`UserError` that
carries what went wrong and how to fix it, so the CLI can print one line and exit with code 2.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input: ``problem`` says what is wrong, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class NotTractable(UserError):
    """The model family cannot give the asked-for quantity (e.g. a GAN's likelihood)."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss; the last good weights were kept."""

    def __init__(self, message: str, step: int) -> None:
        self.step = step
        super().__init__(message)


class NumericalError(RuntimeError):
    """A numerical method failed (an ODE solver's step underflowed, too many steps, ...).

    The message names the cause and what to change; during training the trainer stops, keeps
    the last good weights and reports it like a divergence.
    """

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        super().__init__(f"{self.problem}; {self.fix}" if self.fix else self.problem)


def suggest(name: str, choices: list[str]) -> str:
    """A hint naming the closest valid choice, or all choices when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f"did you mean '{close[0]}'? (choices: {', '.join(choices)})"
    return f"choose one of: {', '.join(choices)}"
