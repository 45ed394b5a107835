"""``config.yml`` as typed, validated settings: built once when the file is loaded
(:func:`load`, cached per path by :func:`quality.settings.config`), so a mistyped key or value
fails at once with a one-line message naming the file, the key path and the allowed values::

    quality/config.yml: anomalies.metrics.on_time_rate.direction='dorp' is not one of both, drop, spike

Sections: ``gx`` (:class:`GxSettings`), ``bronze`` (:class:`BronzeRules` per bronze table),
``marts`` (:class:`MartRules` per mart), ``freshness`` (:class:`FreshnessSettings`) and
``anomalies`` (:class:`quality.monitors.settings.AnomalySettings`, checked against the
monitors' catalogue of metrics and dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingestion.contracts import CONTRACTS

from .config_checks import ConfigError, mapping, name, names, number, one_of
from .monitors.settings import AnomalySettings, anomaly_settings

__all__ = [
    "CHECK_NAMES",
    "SEVERITIES",
    "BronzeRules",
    "ConfigError",
    "FreshnessSettings",
    "FreshnessSla",
    "GxSettings",
    "LateArrival",
    "MartRules",
    "QualityConfig",
    "load",
    "parse",
]

SEVERITIES = ("error", "warning")
#: the names of the checks :mod:`quality.suites` generates (what ``gx.warning_checks`` may list)
CHECK_NAMES = (
    "allowed_values",
    "columns_match_contract",
    "event_order",
    "has_rows",
    "key_unique",
    "late_arrival",
    "load_reconciles",
    "load_status",
    "no_schema_drift",
    "not_null",
    "range",
    "rejects_quarantined",
    "stray_or_waiting_files",
)
SECTIONS = ("gx", "bronze", "marts", "freshness", "anomalies")


@dataclass(frozen=True)
class GxSettings:
    #: checks whose failure is only a warning (every other failed check fails the gate)
    warning_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class LateArrival:
    """A row whose event (``timestamp``, on the parent row ``via`` the ``key`` when given) is
    more than ``max_days`` before the day of its file."""

    timestamp: str
    max_days: int
    status: str | None = None
    status_column: str = "status"
    via: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class BronzeRules:
    """Business rules of one bronze table on top of its contract: column pairs in event order
    (a >= b) and late arrivals. A column's allowed values and range are in its contract
    (``ingestion/contracts.py``: ``allowed``, ``range``), not here."""

    order: tuple[tuple[str, str], ...] = ()
    late_arrival: LateArrival | None = None


@dataclass(frozen=True)
class MartRules:
    """The checks of one mart: its key (unique, not null), other not-null columns, ranges,
    allowed values and column order."""

    key: str
    not_null: tuple[str, ...] = ()
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sets: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    order: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FreshnessSla:
    """The newest ``column`` of a mart may lag the newest loaded batch day by this many days."""

    column: str
    warn_after_days: int
    error_after_days: int


@dataclass(frozen=True)
class FreshnessSettings:
    marts: dict[str, FreshnessSla] = field(default_factory=dict)
    #: the severity of dbt source freshness on an empty bronze table (``no_data``)
    empty_source_severity: str = "warning"


@dataclass(frozen=True)
class QualityConfig:
    """Every section of ``config.yml``, typed; ``path`` is the file it was read from."""

    path: Path | None = None
    gx: GxSettings = field(default_factory=GxSettings)
    bronze: dict[str, BronzeRules] = field(default_factory=dict)
    marts: dict[str, MartRules] = field(default_factory=dict)
    freshness: FreshnessSettings = field(default_factory=FreshnessSettings)
    anomalies: AnomalySettings = field(default_factory=lambda: anomaly_settings(None))


def _bound(where: str, value: Any) -> float | None:
    return None if value is None else number(where, value, type(value), minimum=float("-inf"))


def _ranges(where: str, raw: Any) -> dict[str, tuple[float | None, float | None]]:
    out = {}
    for col, bounds in mapping(where, raw).items():
        here = f"{where}.{col}"
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ConfigError(f"{here}={bounds!r} is not a pair [min, max] (null: open)")
        lo, hi = _bound(f"{here}[0]", bounds[0]), _bound(f"{here}[1]", bounds[1])
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"{here}={bounds!r}: the minimum is above the maximum")
        out[col] = (lo, hi)
    return out


def _sets(where: str, raw: Any) -> dict[str, tuple[Any, ...]]:
    out = {}
    for col, values in mapping(where, raw).items():
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"{where}.{col}={values!r} is not a list of allowed values")
        out[col] = tuple(values)
    return out


def _order(where: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ConfigError(f"{where}={raw!r} is not a list of [later, earlier] column pairs")
    out = []
    for i, pair in enumerate(raw):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ConfigError(f"{where}[{i}]={pair!r} is not a pair [later, earlier]")
        a, b = names(f"{where}[{i}]", pair)
        out.append((a, b))
    return tuple(out)


def _late_arrival(where: str, raw: Any) -> LateArrival | None:
    if raw is None:
        return None
    keys = ("timestamp", "max_days", "status", "status_column", "via", "key")
    raw = mapping(where, raw, keys, required=("timestamp", "max_days"))
    if "via" in raw:
        mapping(where, raw, keys, required=("key",))
        via = one_of(f"{where}.via", raw["via"], CONTRACTS)
    else:
        mapping(where, raw, keys, required=("status",))
        via = None
    return LateArrival(
        timestamp=name(f"{where}.timestamp", raw["timestamp"]),
        max_days=number(f"{where}.max_days", raw["max_days"], int),
        status=None if raw.get("status") is None else name(f"{where}.status", raw["status"]),
        status_column=name(f"{where}.status_column", raw.get("status_column", "status")),
        via=via,
        key=None if raw.get("key") is None else name(f"{where}.key", raw["key"]),
    )


#: bronze keys that moved into the table contracts: named in the error when one is still used
_CONTRACT_RULES = ("ranges", "sets")


def _bronze(where: str, raw: Any) -> dict[str, BronzeRules]:
    out = {}
    for table, rules in mapping(where, raw, CONTRACTS).items():
        here = f"{where}.{table}"
        for key in _CONTRACT_RULES:
            if isinstance(rules, dict) and key in rules:
                raise ConfigError(
                    f"{here}.{key}: a bronze column's allowed values and range live in its "
                    "contract (ingestion/contracts.py: allowed, range), not here"
                )
        rules = mapping(here, rules, ("order", "late_arrival"))
        out[table] = BronzeRules(
            order=_order(f"{here}.order", rules.get("order")),
            late_arrival=_late_arrival(f"{here}.late_arrival", rules.get("late_arrival")),
        )
    return out


def _marts(where: str, raw: Any) -> dict[str, MartRules]:
    out = {}
    for mart, rules in mapping(where, raw).items():
        here = f"{where}.{mart}"
        rules = mapping(
            here, rules, ("key", "not_null", "ranges", "sets", "order"), required=("key",)
        )
        out[mart] = MartRules(
            key=name(f"{here}.key", rules["key"]),
            not_null=names(f"{here}.not_null", rules.get("not_null", [])),
            ranges=_ranges(f"{here}.ranges", rules.get("ranges")),
            sets=_sets(f"{here}.sets", rules.get("sets")),
            order=_order(f"{here}.order", rules.get("order")),
        )
    return out


def _freshness(where: str, raw: Any) -> FreshnessSettings:
    raw = mapping(where, raw, ("marts", "empty_source_severity"))
    slas = {}
    for mart, sla in mapping(f"{where}.marts", raw.get("marts")).items():
        here = f"{where}.marts.{mart}"
        keys = ("column", "warn_after_days", "error_after_days")
        sla = mapping(here, sla, keys, required=keys)
        warn = number(f"{here}.warn_after_days", sla["warn_after_days"], int)
        error = number(f"{here}.error_after_days", sla["error_after_days"], int)
        if warn > error:
            raise ConfigError(
                f"{here}.warn_after_days={warn!r} is above error_after_days={error!r}"
            )
        slas[mart] = FreshnessSla(name(f"{here}.column", sla["column"]), warn, error)
    severity = raw.get("empty_source_severity", "warning")
    one_of(f"{where}.empty_source_severity", severity, SEVERITIES)
    return FreshnessSettings(marts=slas, empty_source_severity=severity)


def parse(raw: Any, path: Path | None = None) -> QualityConfig:
    """The typed config of ``raw`` (the parsed YAML); raises :class:`ConfigError` whose message
    is the key path and what is allowed (without the file: :func:`load` adds it)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"is not a mapping of sections ({', '.join(SECTIONS)})")
    for key in raw:
        if key not in SECTIONS:
            raise ConfigError(f"{key} is not a known section: use one of {', '.join(SECTIONS)}")
    gx = mapping("gx", raw.get("gx"), ("warning_checks",))
    return QualityConfig(
        path=path,
        gx=GxSettings(names("gx.warning_checks", gx.get("warning_checks", []), CHECK_NAMES)),
        bronze=_bronze("bronze", raw.get("bronze")),
        marts=_marts("marts", raw.get("marts")),
        freshness=_freshness("freshness", raw.get("freshness")),
        anomalies=anomaly_settings(raw.get("anomalies")),
    )


def display(path: Path) -> str:
    """``path`` relative to the repository when inside it (``quality/config.yml``)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return str(path)


def load(path: Path) -> QualityConfig:
    """Read and check ``path``: a :class:`ConfigError` names the file, the key path and the
    allowed values in one line."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError as e:
        raise FileNotFoundError(f"quality config {path} not found: set QUALITY_CONFIG") from e
    try:
        return parse(yaml.safe_load(text), Path(path))
    except ConfigError as e:
        raise ConfigError(f"{display(path)}: {e}") from None
