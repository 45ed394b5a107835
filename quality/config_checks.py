"""The checks that turn ``config.yml``'s raw YAML into typed values, shared by
:mod:`quality.config_model` (every section) and :mod:`quality.monitors.settings` (the anomalies
section, checked against the monitors' catalogue).

Each check takes the key path of the value (``anomalies.day.threshold``) and raises
:class:`ConfigError` with a one-line message naming that path, the value and what is allowed;
:func:`quality.config_model.load` puts the file's name in front.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ConfigError(ValueError):
    """A value of ``config.yml`` that is not supported; the message names the key path and the
    allowed values."""


def choices(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def mapping(
    where: str, raw: Any, allowed: Iterable[str] | None = None, required: Iterable[str] = ()
) -> dict[str, Any]:
    """``raw`` as a dict (None: empty) whose keys are all ``allowed`` (None: any string) and
    include every ``required`` one."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}={raw!r} is not a mapping")
    if allowed is not None:
        allowed = list(allowed)
        for key in raw:
            if key not in allowed:
                raise ConfigError(
                    f"{where}.{key} is not a known key: use one of {choices(allowed)}"
                )
    for key in raw:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: key {key!r} is not a name")
    for key in required:
        if key not in raw:
            raise ConfigError(f"{where}.{key} is missing (required)")
    return dict(raw)


def one_of(where: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{where}={value!r} is not one of {choices(allowed)}")
    return value


def number(
    where: str, value: Any, kind: type = float, minimum: float = 0.0, positive: bool = False
) -> Any:
    """``value`` as ``kind`` (int or float): a number (not a string, not a boolean), whole for
    ``int``, at least ``minimum``, and above zero when ``positive``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}={value!r} is not a number")
    if kind is int and value != int(value):
        raise ConfigError(f"{where}={value!r} is not a whole number")
    if positive and value <= 0:
        raise ConfigError(f"{where}={value!r} must be greater than 0")
    if value < minimum:
        raise ConfigError(f"{where}={value!r} is below the minimum {minimum:g}")
    return kind(value)


def name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}={value!r} is not a name")
    return value


def names(where: str, raw: Any, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    """A list of names, each one of ``allowed`` when given."""
    if not isinstance(raw, list | tuple):
        raise ConfigError(f"{where}={raw!r} is not a list")
    allowed = None if allowed is None else list(allowed)
    for i, value in enumerate(raw):
        name(f"{where}[{i}]", value)
        if allowed is not None:
            one_of(f"{where}[{i}]", value, allowed)
    return tuple(raw)
