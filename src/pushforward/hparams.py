"""Hyperparameters as dataclasses, and turning ``--set key=value`` strings into them.

Each model family declares a dataclass of its hyperparameters (names, types, defaults); the
trainer declares one too. Values given as strings (from the CLI) are converted by the field's
type, and unknown keys or values of the wrong type are :class:`UserError` s naming the fix.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal

from pushforward.errors import UserError, suggest


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _convert(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        choices = list(args)
        if value not in choices:
            raise UserError(
                f"'{value}' is not a valid value for {key}",
                f"use one of: {', '.join(map(str, choices))}",
            )
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except UserError as error:
                errors.append(error)
        raise errors[0]
    if origin in (tuple, list):
        if isinstance(value, str):
            parts = [p for p in value.replace("(", "").replace(")", "").split(",") if p.strip()]
        else:
            parts = list(value)
        inner = args[0] if args else str
        converted = [_convert(p.strip() if isinstance(p, str) else p, inner, key) for p in parts]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise UserError(f"{key} must be true or false, not '{value}'", f"use --set {key}=true or {key}=false")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise UserError(f"{key} must be a number, not {value}", f"use --set {key}=<number>")
        try:
            number = float(value) if annotation is float else _to_int(value)
        except (TypeError, ValueError) as error:
            kind = "an integer" if annotation is int else "a number"
            raise UserError(f"{key} must be {kind}, not '{value}'", f"use --set {key}=<{kind.split()[-1]}>") from error
        return number
    if annotation is str:
        return str(value)
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def build(cls: type, values: dict[str, Any], *, what: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values`` (strings or typed), validating every key."""
    hints = typing.get_type_hints(cls)
    names = field_names(cls)
    converted = {}
    for key, value in values.items():
        if key not in names:
            raise UserError(f"unknown {what} setting '{key}'", suggest(key, names))
        converted[key] = _convert(value, hints[key], key)
    return cls(**converted)


def to_json_dict(instance: Any) -> dict[str, Any]:
    """A JSON-safe dict of a hyperparameter dataclass (tuples become lists)."""
    data = dataclasses.asdict(instance)
    return json.loads(json.dumps(data))


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """Parse ``["key=value", ...]`` from the CLI's ``--set``."""
    result: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set takes key=value, not '{item}'", "write it as --set lr=3e-4")
        result[key] = value.strip()
    return result
