"""The ``anomalies`` section of ``config.yml`` as typed settings for the monitors: every key and
value checked against the monitors' own catalogue (:mod:`quality.monitors.metrics`); anything
unknown raises :class:`ConfigError` naming the key path and the allowed values.

:func:`quality.config_model.load` builds it with the rest of the file (``config().anomalies``);
the monitors are handed their settings and never read the file themselves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..config_checks import ConfigError, mapping, names, number, one_of
from .metrics import DIMENSIONS, METRICS, dimensions_of

DIRECTIONS = ("both", "drop", "spike")
SEVERITIES = ("error", "warning")


__all__ = ["AnomalySettings", "ConfigError", "anomaly_settings"]
#: numbers that make no sense at zero (a zero threshold flags every day, a zero window has no days)
POSITIVE = {"window_days", "level_days", "reference_days", "threshold", "max_ratio", "max_ratio_z"}


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


def _scalars(where: str, raw: dict[str, Any], cls) -> dict[str, Any]:
    out = {}
    for f in fields(cls):
        if f.name not in raw or f.type not in ("int", "float"):
            continue
        kind = int if f.type == "int" else float
        out[f.name] = number(f"{where}.{f.name}", raw[f.name], kind, positive=f.name in POSITIVE)
    if "normal_share" in out and out["normal_share"] > 1:
        raise ConfigError(f"{where}.normal_share={out['normal_share']!r} is above the maximum 1")
    return out


def _dimensions(where: str, raw: Any) -> dict[str, tuple[str, ...]]:
    out = {}
    for dim, metrics in mapping(where, raw, DIMENSIONS).items():
        allowed = [m for m in METRICS if dim in dimensions_of(m)]
        out[dim] = names(f"{where}.{dim}", metrics, allowed)
    return out


def anomaly_settings(raw: Mapping[str, Any] | None) -> AnomalySettings:
    """The ``anomalies`` section of ``config.yml`` (``raw``, None: all defaults) as typed
    settings; raises :class:`ConfigError` naming the key path and the allowed values on anything
    unknown, mistyped or out of range."""
    where = "anomalies"
    raw = mapping(where, raw, [f.name for f in fields(AnomalySettings)])
    severity = one_of(f"{where}.severity", raw.get("severity", "error"), SEVERITIES)
    families = {}
    for name, cls in (
        ("day", DayFamily),
        ("segments", SegmentFamily),
        ("weekly", WeeklyFamily),
        ("files", FilesFamily),
    ):
        here = f"{where}.{name}"
        section = mapping(here, raw.get(name), [f.name for f in fields(cls)])
        values = _scalars(here, section, cls)
        if "dimensions" in section:
            values["dimensions"] = _dimensions(f"{here}.dimensions", section["dimensions"])
        if "metrics" in section:
            values["metrics"] = names(f"{here}.metrics", section["metrics"], METRICS)
        families[name] = cls(**values)
    rules = {}
    for metric, rule in mapping(f"{where}.metrics", raw.get("metrics"), METRICS).items():
        here = f"{where}.metrics.{metric}"
        rule = mapping(here, rule, [f.name for f in fields(MetricRule)])
        direction = one_of(f"{here}.direction", rule.get("direction", "both"), DIRECTIONS)
        reason = rule.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ConfigError(f"{here}.reason={reason!r} is not a text")
        if direction != "both" and not reason:
            raise ConfigError(
                f"{here}.reason is missing: direction {direction!r} watches one way only; "
                "say why the other way is harmless"
            )
        rules[metric] = MetricRule(direction, reason)
    return AnomalySettings(severity=severity, metrics=rules, **families)
