"""Dataclass configs from plain dicts: unknown or missing keys fail loudly with ConfigError."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Sequence, TypeVar

from edgebind.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclass fields.

    `where` names the place in the config for error messages (e.g. "edgebind-tiny: transforms.audio").
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} for {cls.__name__}; valid keys: {sorted(fields)}"
        )
    required = [f.name for f in fields.values() if f.init and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and f.name not in data]
    if required:
        raise ConfigError(f"{where}: missing required key(s) {required} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = _unwrap_optional(hints.get(name))
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, f"{where}.{name}")
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{where}: {exc}; see the {cls.__name__} fields") from None
    except ConfigError as exc:  # a field's own check: say where in the config it failed
        raise exc if str(exc).startswith(where) else ConfigError(f"{where}: {exc}") from None


def _unwrap_optional(hint: Any) -> Any:
    """Optional[X] -> X, so nested dataclass fields may be null in JSON."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def to_dict(obj: Any) -> dict:
    """The inverse of from_dict: a JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(obj)


def check_choice(value: str, choices: Sequence[str], name: str) -> None:
    """Raise ConfigError unless config field `name` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: "str | float", what: str = "duration") -> float:
    """Seconds from "90", "90s", "5m", "2h" or "7d"; a ConfigError says the accepted forms."""
    raw = str(text).strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in _UNITS else (raw, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"{what} {text!r}: give seconds or a number with s, m, h or d, e.g. 90, 5m, 2h, 7d")
    return seconds
