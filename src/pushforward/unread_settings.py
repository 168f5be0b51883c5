"""Settings a model reads only under another setting's value, refused when given without it.

``--set time_power=0.5`` on a flow-matching model that draws its times logit-uniformly, or
``--set rtol=1e-3`` with a fixed-step solver, would otherwise be accepted and change nothing: the
user believes a setting took effect that never did. A hyperparameter class lists such settings
as :class:`ReadOnlyIf` rules in its ``unread_rules`` and, by deriving from
:class:`RefusesUnreadSettings`, refuses them from its ``refuse_unused(given)``, which
:func:`~pushforward.models.base.create` calls with the names the user gave (never a default or a
preset's value, nor a saved run's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from pushforward.errors import UserError


@dataclass(frozen=True)
class ReadOnlyIf:
    """``names`` are read only when ``applies(hparams)``; ``when`` says so in words ("when
    time_sampling=power"), ``deciders`` are the settings whose values decide it, and ``enable``
    is the other fix ("use --set time_sampling=power"). ``asides`` add a note to the fix when
    their name was given (ddpm's ``timesteps`` is not the number of sampling steps)."""

    names: tuple[str, ...]
    applies: Callable[[Any], bool]
    when: str
    deciders: tuple[str, ...]
    enable: str
    asides: tuple[tuple[str, str], ...] = ()


def listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def refuse_unread(hparams: Any, given: Iterable[str], rules: Iterable[ReadOnlyIf]) -> None:
    """A :class:`UserError` for the first rule with a given name that ``hparams`` will not read."""
    given = set(given)
    for rule in rules:
        unused = [name for name in rule.names if name in given]
        if not unused or rule.applies(hparams):
            continue
        state = ", ".join(
            f"{decider} is {_as_given(getattr(hparams, decider))}" + ("" if decider in given else " (the default)")
            for decider in rule.deciders
        )
        verb = "is" if len(unused) == 1 else "are"
        drop = " and ".join(f"--set {name}" for name in unused)
        asides = "".join(f" ({text})" for name, text in rule.asides if name in unused)
        raise UserError(f"{listed(unused)} {verb} read only {rule.when}, and {state}", f"drop {drop}{asides}, or {rule.enable}")


class RefusesUnreadSettings:
    """A hyperparameter class whose ``unread_rules`` :func:`create` enforces."""

    unread_rules: ClassVar[tuple[ReadOnlyIf, ...]] = ()

    def refuse_unused(self, given: set[str]) -> None:
        refuse_unread(self, given, self.unread_rules)


def _as_given(value: Any) -> str:
    """A value as ``--set`` takes it (``false``, not ``False``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
