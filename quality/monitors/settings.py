"""The ``anomalies`` section of ``config.yml`` as typed settings for the monitors: every key and
value checked against the monitors' own catalogue (:mod:`quality.monitors.metrics`); anything
unknown raises :class:`ConfigError` naming the supported ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..settings import config
from .metrics import DIMENSIONS, METRICS, dimensions_of

DIRECTIONS = ("both", "drop", "spike")
SEVERITIES = ("error", "warning")


class ConfigError(ValueError):
    """A value of ``config.yml`` that is not supported; the message names the allowed ones."""


@dataclass(frozen=True)
class MetricRule:
    """How one metric is watched: which way a move is bad (``direction``) and, when only one
    way is watched, why the other is harmless (``reason``)."""

    direction: str = "both"
    reason: str | None = None


@dataclass(frozen=True)
class DayFamily:
    """Each day against a weekday-adjusted baseline of the trailing days (company totals)."""

    window_days: int = 28
    level_days: int = 14
    min_history: int = 14
    threshold: float = 5.0
    min_volume: float = 20.0
    relative_floor: float = 0.02
    max_ratio: float = 2.0
    max_ratio_z: float = 3.0


@dataclass(frozen=True)
class SegmentFamily:
    """The day-level score per segment of the configured dimensions (its share of the total, or
    its rate against the total's), behind a volume floor."""

    window_days: int = 56
    level_days: int = 56
    threshold: float = 5.0
    min_volume: float = 30.0
    min_share: float = 0.02
    dimensions: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WeeklyFamily:
    """The last ``window_days`` pooled against the ``reference_days`` before them: gradual drift
    and metrics too sparse to score a day at a time."""

    window_days: int = 7
    reference_days: int = 28
    min_reference_days: int = 14
    threshold: float = 5.0
    min_volume: float = 30.0
    metrics: tuple[str, ...] = ()
    dimensions: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class FilesFamily:
    """A table that normally gets a newly loaded file each day, without one on the day scored."""

    window_days: int = 28
    min_history: int = 5
    normal_share: float = 0.8


@dataclass(frozen=True)
class AnomalySettings:
    severity: str = "error"
    day: DayFamily = field(default_factory=DayFamily)
    segments: SegmentFamily = field(default_factory=SegmentFamily)
    weekly: WeeklyFamily = field(default_factory=WeeklyFamily)
    files: FilesFamily = field(default_factory=FilesFamily)
    metrics: dict[str, MetricRule] = field(default_factory=dict)

    def rule(self, metric: str) -> MetricRule:
        return self.metrics.get(metric, MetricRule())


def _choices(values) -> str:
    return ", ".join(str(v) for v in values)


def _keys(where: str, raw: Any, allowed) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}. Supported keys: {_choices(allowed)}"
        )
    return dict(raw)


def _number(where: str, value: Any, kind: type, minimum: float = 0.0) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {value!r} is not a number")
    if value < minimum:
        raise ConfigError(f"{where}: {value!r} is below the minimum {minimum:g}")
    return kind(value)


def _scalars(where: str, raw: dict[str, Any], cls) -> dict[str, Any]:
    out = {}
    for f in fields(cls):
        if f.name not in raw or f.type in ("dict[str, tuple[str, ...]]", "tuple[str, ...]"):
            continue
        kind = int if f.type == "int" else float
        out[f.name] = _number(f"{where}.{f.name}", raw[f.name], kind)
    return out


def _metric_names(where: str, raw: Any, allowed) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise ConfigError(f"{where}: expected a list of metrics, got {raw!r}")
    for name in raw:
        if name not in allowed:
            raise ConfigError(
                f"{where}: unknown metric {name!r}. Supported values: {_choices(allowed)}"
            )
    return tuple(raw)


def _dimensions(where: str, raw: Any) -> dict[str, tuple[str, ...]]:
    out = {}
    for dim, metrics in _keys(where, raw, DIMENSIONS).items():
        allowed = [m for m in METRICS if dim in dimensions_of(m)]
        out[dim] = _metric_names(f"{where}.{dim}", metrics, allowed)
    return out


def anomaly_settings(raw: Mapping[str, Any] | None = None) -> AnomalySettings:
    """The ``anomalies`` section of ``config.yml`` as typed settings; raises
    :class:`ConfigError` naming the key and the supported values on anything unknown."""
    where = "anomalies"
    raw = _keys(
        where,
        config().get(where) if raw is None else raw,
        [f.name for f in fields(AnomalySettings)],
    )
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        raise ConfigError(
            f"{where}.severity: {severity!r} is not supported. Supported values: "
            f"{_choices(SEVERITIES)}"
        )
    families = {}
    for name, cls in (
        ("day", DayFamily),
        ("segments", SegmentFamily),
        ("weekly", WeeklyFamily),
        ("files", FilesFamily),
    ):
        here = f"{where}.{name}"
        section = _keys(here, raw.get(name), [f.name for f in fields(cls)])
        values = _scalars(here, section, cls)
        if "dimensions" in section:
            values["dimensions"] = _dimensions(f"{here}.dimensions", section["dimensions"])
        if "metrics" in section:
            values["metrics"] = _metric_names(f"{here}.metrics", section["metrics"], METRICS)
        families[name] = cls(**values)
    rules = {}
    for metric, rule in _keys(f"{where}.metrics", raw.get("metrics"), METRICS).items():
        here = f"{where}.metrics.{metric}"
        rule = _keys(here, rule, [f.name for f in fields(MetricRule)])
        direction = rule.get("direction", "both")
        if direction not in DIRECTIONS:
            raise ConfigError(
                f"{here}.direction: {direction!r} is not supported. Supported values: "
                f"{_choices(DIRECTIONS)}"
            )
        if direction != "both" and not rule.get("reason"):
            raise ConfigError(
                f"{here}: direction {direction!r} watches one way only; say why the other way "
                "is harmless in 'reason'"
            )
        rules[metric] = MetricRule(direction, rule.get("reason"))
    return AnomalySettings(severity=severity, metrics=rules, **families)
