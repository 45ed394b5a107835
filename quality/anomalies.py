"""Daily anomaly detection: row volume per bronze table and key mart metrics, each scored with a
robust z-score (median / MAD) against the trailing same-weekday days, the day under test excluded
from its own baseline. Settings (window, minimum history, threshold, direction per metric) live in
``config.yml`` under ``anomalies``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from .settings import config

DAY_OF_FILE = (
    r"cast(regexp_replace(_source_file, '^.*([0-9]{4}-[0-9]{2}-[0-9]{2})[.]csv$', '\1') as date)"
)
ROW_TABLES = ("orders", "order_lines", "shipments", "quality_inspections", "waste_events")
MART_METRICS = {
    "orders": ("fct_orders", "ordered_date", "count(*)"),
    "revenue": ("fct_orders", "ordered_date", "sum(net_revenue)"),
    "on_time_rate": (
        "fct_shipments",
        "delivered_date",
        "avg(case when is_on_time then 1.0 else 0.0 end)",
    ),
    "defect_rate": (
        "fct_quality_inspections",
        "inspected_date",
        "sum(defects_found) * 1.0 / nullif(sum(sample_size), 0)",
    ),
    "waste_kg": ("fct_waste_events", "recorded_date", "sum(quantity_kg)"),
}


@dataclass(frozen=True)
class Score:
    day: date
    metric: str
    value: float | None
    baseline_median: float | None
    mad: float | None
    z: float | None
    threshold: float
    is_anomaly: bool
    status: str  # ok | anomaly | insufficient_history | low_volume | no_value
    history: int


def daily_metrics(wh) -> pd.DataFrame:
    """One row per (day, metric, value), from bronze (row volumes) and the marts."""
    parts = []
    for t in ROW_TABLES:
        if wh.table_exists("bronze", t):
            parts.append(
                f"select {DAY_OF_FILE} as day, 'rows_{t}' as metric, "
                f"cast(count(*) as double precision) as value from bronze.{t} group by 1"
            )
    for metric, (table, column, expr) in MART_METRICS.items():
        if wh.table_exists("marts", table):
            parts.append(
                f"select {column} as day, '{metric}' as metric, "
                f"cast({expr} as double precision) as value from marts.{table} "
                f"where {column} is not null group by 1"
            )
    if not parts:
        return pd.DataFrame(columns=["day", "metric", "value"])
    df = wh.frame(" union all ".join(parts))
    df["day"] = pd.to_datetime(df["day"]).dt.date
    return df


def score(
    series: dict[date, float],
    day: date,
    metric: str,
    settings: dict | None = None,
    volume: dict[date, float] | None = None,
) -> Score:
    """Score ``day``'s value of one metric against its same-weekday history (``day`` excluded).

    ``volume`` is the daily row count the metric rests on: when its median over the baseline days
    is below ``min_volume`` the day is not scored (``low_volume``: a handful of rows is noise).
    Count metrics (``count: true``) have a Poisson noise floor, ``sqrt(median)``.
    """
    s = settings or config()["anomalies"]
    rule = s["metrics"].get(metric, {})
    threshold = float(rule.get("threshold", s["threshold"]))
    direction = rule.get("direction", "both")
    value = series.get(day)
    if value is None and metric.startswith("rows_") and series:
        value = 0.0  # a table without a file that day has no rows
    history = [
        series[d]
        for k in range(1, int(s["weekday_window"]) + 1)
        if (d := day - timedelta(days=7 * k)) in series and series[d] is not None
    ]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return Score(
            day, metric, None, None, None, None, threshold, False, "no_value", len(history)
        )
    if len(history) < int(s["min_history"]):
        return Score(
            day,
            metric,
            value,
            None,
            None,
            None,
            threshold,
            False,
            "insufficient_history",
            len(history),
        )
    if volume is not None:
        days = [day - timedelta(days=7 * k) for k in range(1, int(s["weekday_window"]) + 1)]
        rows = [volume.get(d, 0.0) for d in days if d in series]
        if float(np.median(rows)) < float(s.get("min_volume", 0)):
            return Score(
                day, metric, value, None, None, None, threshold, False, "low_volume", len(history)
            )
    med = float(np.median(history))
    mad = float(np.median(np.abs(np.array(history) - med)))
    floor = np.sqrt(max(med, 1.0)) if rule.get("count") else 0.0
    relative = float(rule.get("mad_floor", s["mad_floor"]))
    scale = max(1.4826 * mad, relative * abs(med), floor, 1e-9)
    z = (value - med) / scale
    hit = {"up": z > threshold, "down": z < -threshold}.get(direction, abs(z) > threshold)
    return Score(
        day,
        metric,
        value,
        med,
        mad,
        round(z, 3),
        threshold,
        bool(hit),
        "anomaly" if hit else "ok",
        len(history),
    )


def detect(wh, day: date) -> list[Score]:
    df = daily_metrics(wh)
    s = config()["anomalies"]
    out = []
    series = {
        metric: dict(zip(rows.day, rows.value.astype(float), strict=True))
        for metric, rows in df.groupby("metric")
    }
    for metric, rule in s["metrics"].items():
        if not series.get(metric):
            continue
        volume = series.get(rule["volume"], {}) if rule.get("volume") else None
        out.append(score(series[metric], day, metric, s, volume))
    return out


def frame(scores: list[Score]) -> pd.DataFrame:
    now = datetime.now(UTC).replace(tzinfo=None)
    return pd.DataFrame(
        {
            "scored_at": pd.Series([now] * len(scores), dtype="datetime64[us]"),
            "day": [x.day for x in scores],
            "metric": [x.metric for x in scores],
            "value": pd.Series([x.value for x in scores], dtype="float64"),
            "baseline_median": pd.Series([x.baseline_median for x in scores], dtype="float64"),
            "mad": pd.Series([x.mad for x in scores], dtype="float64"),
            "z": pd.Series([x.z for x in scores], dtype="float64"),
            "threshold": pd.Series([x.threshold for x in scores], dtype="float64"),
            "history_days": pd.Series([x.history for x in scores], dtype="int64"),
            "is_anomaly": pd.Series([x.is_anomaly for x in scores], dtype="bool"),
            "status": [x.status for x in scores],
        }
    )
