"""The quality package's defaults, in one place: ``quality/config.yml`` plus a few paths that the
environment may override.

| variable | meaning | default |
| --- | --- | --- |
| ``QUALITY_CONFIG`` | the YAML config (SLAs, anomaly settings, severities) | ``quality/config.yml`` |
| ``QUALITY_GX_ROOT`` | directory holding the file-mode GX project ``gx/`` | ``quality/`` |
| ``QUALITY_DATA_DOCS_DIR`` | where Data Docs HTML is written | ``<PLATFORM_LOCAL_DIR or .local>/quality/data_docs`` |
| ``QUALITY_DBT_TARGET`` | dbt target directory whose ``run_results.json`` is alerted on | the directory of ``DBT_MANIFEST_PATH``, else ``dbt_project/target/airflow`` or ``dbt_project/target`` |

Where people look, for ``make docs`` (:mod:`orchestration.docs`) and the links in alerts:

| variable | meaning | default |
| --- | --- | --- |
| ``DOCS_HOST`` ``DOCS_PORT`` | where ``make docs`` serves the dbt docs (``/dbt/``) and the Data Docs (``/data-docs/``) | ``127.0.0.1``, ``8090`` |
| ``MLFLOW_UI_PORT`` | where ``make docs`` serves the MLflow UI | ``8091`` |
| ``DOCS_BASE_URL`` | the address people reach ``make docs`` at, for alert links | ``http://DOCS_HOST:DOCS_PORT`` |
| ``MLFLOW_UI_URL`` | the MLflow UI, for ML alert links | ``http://DOCS_HOST:MLFLOW_UI_PORT`` |
| ``QUALITY_DATA_DOCS_BASE_URL`` | the Data Docs when served elsewhere (a bucket site) | ``DOCS_BASE_URL/data-docs`` |
| ``DBT_DOCS_URL`` | the dbt docs when served elsewhere | ``DOCS_BASE_URL/dbt`` |
| ``AIRFLOW_BASE_URL`` | the Airflow UI, for task-failure links | ``AIRFLOW__API__BASE_URL`` if set, else no link |

No link is ever a ``file://`` address (mail and chat clients do not open them), and no Airflow
link is made when no Airflow UI is configured (``make run`` runs none; ``make airflow`` sets
``AIRFLOW__API__BASE_URL``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("QUALITY_CONFIG") or PACKAGE / "config.yml")


@cache
def _load(path: str) -> dict[str, Any]:
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as e:
        raise FileNotFoundError(f"quality config {path} not found: set QUALITY_CONFIG") from e


def config() -> dict[str, Any]:
    """The parsed ``config.yml`` (cached per path)."""
    return _load(str(config_path()))


def gx_root() -> Path:
    return Path(os.environ.get("QUALITY_GX_ROOT") or PACKAGE).resolve()


def data_docs_dir() -> Path:
    local = Path(os.environ.get("PLATFORM_LOCAL_DIR") or REPO / ".local")
    default = local / "quality" / "data_docs"
    return Path(os.environ.get("QUALITY_DATA_DOCS_DIR") or default).resolve()


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def _port(name: str, default: int) -> int:
    raw = _env(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


def docs_host() -> str:
    return _env("DOCS_HOST", "127.0.0.1")


def docs_port() -> int:
    return _port("DOCS_PORT", 8090)


def mlflow_ui_port() -> int:
    return _port("MLFLOW_UI_PORT", 8091)


def docs_base_url() -> str:
    """Where ``make docs`` is reached (``DOCS_BASE_URL``), without a trailing slash."""
    return _env("DOCS_BASE_URL", f"http://{docs_host()}:{docs_port()}").rstrip("/")


def data_docs_url() -> str:
    """The Data Docs index: ``QUALITY_DATA_DOCS_BASE_URL``, else ``make docs``' ``/data-docs/``."""
    base = _env("QUALITY_DATA_DOCS_BASE_URL") or f"{docs_base_url()}/data-docs"
    return base.rstrip("/") + "/index.html"


def dbt_docs_url(unique_id: str | None = None) -> str:
    """The dbt docs (``DBT_DOCS_URL``, else ``make docs``' ``/dbt/``), at ``unique_id``'s page
    when it is a test."""
    base = _env("DBT_DOCS_URL", f"{docs_base_url()}/dbt").rstrip("/")
    if unique_id and unique_id.startswith("test."):
        return f"{base}/#!/test/{unique_id}"
    return base + "/"


def mlflow_ui_url() -> str:
    return _env("MLFLOW_UI_URL", f"http://{docs_host()}:{mlflow_ui_port()}").rstrip("/")


def airflow_base_url() -> str | None:
    """The Airflow UI for task links: ``AIRFLOW_BASE_URL``, else Airflow's own
    ``AIRFLOW__API__BASE_URL``; None when neither is set (no UI runs, no link)."""
    base = _env("AIRFLOW_BASE_URL") or _env("AIRFLOW__API__BASE_URL")
    return base.rstrip("/") or None


# --------------------------------------------------------------------------- anomaly monitors
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
    from .monitors.metrics import DIMENSIONS, METRICS, dimensions_of

    out = {}
    for dim, metrics in _keys(where, raw, DIMENSIONS).items():
        allowed = [m for m in METRICS if dim in dimensions_of(m)]
        out[dim] = _metric_names(f"{where}.{dim}", metrics, allowed)
    return out


def anomaly_settings(raw: Mapping[str, Any] | None = None) -> AnomalySettings:
    """The ``anomalies`` section of ``config.yml`` as typed settings; raises
    :class:`ConfigError` naming the key and the supported values on anything unknown."""
    from .monitors.metrics import METRICS

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
