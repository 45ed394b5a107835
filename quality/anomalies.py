"""Daily anomaly detection: the monitors of :mod:`quality.monitors` on one day, and the table
their scores are kept in, ``quality.anomaly_results`` (one row per family, metric and segment a
day; a re-run of the day replaces that day's rows), so every series can be charted.

Columns: ``scored_at, day, family, metric, base_metric, dimension, segment, value, baseline,
spread, z, threshold, history_days, share, direction, is_anomaly, status, detail``. ``metric`` is
the full label (``revenue``, ``orders[channel=web]``, ``weekly:defect_rate[facility=...]``,
``files:orders``); ``base_metric``, ``dimension`` and ``segment`` are its parts. A table written
by the first version (``baseline_median``, ``mad``) gets the new columns added.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from . import monitors
from .monitors import FAMILIES, Score
from .monitors.files import newest_batch_day
from .monitors.metrics import DAY_OF_FILE, ROW_TABLES
from .monitors.settings import AnomalySettings
from .settings import config

__all__ = [
    "COLUMNS",
    "DAY_OF_FILE",
    "FAMILIES",
    "ROW_TABLES",
    "Score",
    "detect",
    "ensure_table",
    "frame",
    "newest_batch_day",
    "write",
]


def detect(wh, day: date, settings: AnomalySettings | None = None) -> list[Score]:
    """Every monitor's score of ``day`` on the warehouse ``wh``, with ``settings`` (default: the
    ``anomalies`` section of ``config.yml``)."""
    return monitors.detect(wh, day, settings or config().anomalies)


SCHEMA = "quality"
TABLE = "anomaly_results"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("scored_at", "timestamp"),
    ("day", "date"),
    ("family", "varchar"),
    ("metric", "varchar"),
    ("base_metric", "varchar"),
    ("dimension", "varchar"),
    ("segment", "varchar"),
    ("value", "double precision"),
    ("baseline", "double precision"),
    ("spread", "double precision"),
    ("z", "double precision"),
    ("threshold", "double precision"),
    ("history_days", "bigint"),
    ("share", "double precision"),
    ("direction", "varchar"),
    ("is_anomaly", "boolean"),
    ("status", "varchar"),
    ("detail", "varchar"),
)


def frame(scores: list[Score]) -> pd.DataFrame:
    """The rows of ``quality.anomaly_results`` for ``scores``."""
    now = datetime.now(UTC).replace(tzinfo=None)
    n = len(scores)

    def num(values) -> pd.Series:
        return pd.Series(values, dtype="float64")

    return pd.DataFrame(
        {
            "scored_at": pd.Series([now] * n, dtype="datetime64[us]"),
            "day": pd.Series([x.day for x in scores], dtype="object"),
            "family": [x.family for x in scores],
            "metric": [x.metric for x in scores],
            "base_metric": [x.base_metric for x in scores],
            "dimension": pd.Series([x.dimension for x in scores], dtype="object"),
            "segment": pd.Series([x.segment for x in scores], dtype="object"),
            "value": num([x.value for x in scores]),
            "baseline": num([x.baseline for x in scores]),
            "spread": num([x.spread for x in scores]),
            "z": num([x.z for x in scores]),
            "threshold": num([x.threshold for x in scores]),
            "history_days": pd.Series([x.history for x in scores], dtype="int64"),
            "share": num([x.share for x in scores]),
            "direction": [x.direction for x in scores],
            "is_anomaly": pd.Series([x.is_anomaly for x in scores], dtype="bool"),
            "status": [x.status for x in scores],
            "detail": [x.detail for x in scores],
        }
    )


def ensure_table(wh) -> None:
    """Create ``quality.anomaly_results`` with its types, or add the columns it lacks."""
    wh.execute(f"create schema if not exists {SCHEMA}")
    defs = ", ".join(f"{c} {t}" for c, t in COLUMNS)
    wh.execute(f"create table if not exists {SCHEMA}.{TABLE} ({defs})")
    # only the columns it lacks (a table written by an older release): ``add column if not
    # exists`` is not Databricks' or Spark's syntax, and a current table needs no statement
    have = {c.lower() for c in wh.columns(SCHEMA, TABLE)}
    for column, kind in COLUMNS:
        if column.lower() not in have:
            wh.execute(f"alter table {SCHEMA}.{TABLE} add column {column} {kind}")


def write(wh, scores: list[Score], day: date) -> int:
    """Replace ``day``'s rows of ``quality.anomaly_results`` with ``scores``."""
    ensure_table(wh)
    return wh.write(frame(scores), SCHEMA, TABLE, replace_where=("day", day))
