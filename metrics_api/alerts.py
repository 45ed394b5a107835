"""The latest alerts for the live page: failed quality checks and anomalies, newest first.

Read from the result tables the quality package writes (``quality.check_results``,
``quality.anomaly_results``) with fixed statements through :mod:`metrics_api.engine`. Only names,
counts and metric values are shown: the ``observed`` column (masked sample values) stays out, so
no row content reaches the page. No quality run yet: an empty list.
"""

from __future__ import annotations

from .engine import python_value

_TABLES = (
    "select table_name from information_schema.tables "
    "where table_schema = 'quality' and table_name in ('check_results', 'anomaly_results')"
)
_CHECKS = (
    "select checked_at as at, layer, suite, expectation, severity, unexpected_count "
    "from quality.check_results where not success "
    "order by checked_at desc, suite, expectation limit {limit}"
)
_ANOMALY_COLUMNS = (
    "select column_name from information_schema.columns "
    "where table_schema = 'quality' and table_name = 'anomaly_results'"
)
# the expected value is ``baseline`` (and a one-line ``detail``) since the quality monitors;
# ``baseline_median`` in a table written by the first version of the anomaly check
_ANOMALIES = (
    "select scored_at as at, day, metric, value, {baseline} as baseline, z, {detail} as detail "
    "from quality.anomaly_results where is_anomaly "
    "order by day desc, scored_at desc, metric limit {limit}"
)


def latest(service, limit: int = 10) -> list[dict]:
    limit = int(limit)  # a number, bounded by the caller, never request text
    tables = {row["table_name"] for row in service.reader.run(_TABLES, 10).to_pylist()}
    alerts: list[dict] = []
    if "check_results" in tables:
        for row in service.reader.run(_CHECKS.format(limit=limit), limit).to_pylist():
            alerts.append(
                {
                    "kind": "check",
                    "at": python_value(row["at"]),
                    "severity": row["severity"],
                    "title": f"{row['layer']} check failed: {row['suite']} {row['expectation']}",
                    "detail": f"{row['unexpected_count']} unexpected value(s)",
                }
            )
    if "anomaly_results" in tables:
        for row in service.reader.run(_anomalies_sql(service, limit), limit).to_pylist():
            alerts.append(
                {
                    "kind": "anomaly",
                    "at": python_value(row["at"]),
                    "severity": "warn",
                    "title": f"anomaly in {row['metric']} on {python_value(row['day'])}",
                    "detail": row["detail"] or _anomaly_detail(row),
                }
            )
    alerts.sort(key=lambda a: a["at"] or "", reverse=True)
    return alerts[:limit]


def _anomalies_sql(service, limit: int) -> str:
    """The anomaly statement for the columns the results table has (one of two fixed forms)."""
    columns = {r["column_name"] for r in service.reader.run(_ANOMALY_COLUMNS, 100).to_pylist()}
    baseline = "baseline" if "baseline" in columns else "baseline_median"
    detail = "detail" if "detail" in columns else "null"
    return _ANOMALIES.format(baseline=baseline, detail=detail, limit=limit)


def _anomaly_detail(row: dict) -> str:
    def num(value) -> str:
        return "n/a" if value is None else f"{value:,.2f}"

    z = "" if row["z"] is None else f" (z = {row['z']:+.1f})"
    return f"value {num(row['value'])} against an expected {num(row['baseline'])}{z}"


#: the days of one monitor's series the ``/anomalies`` endpoint returns, ending at its newest day
SERIES_DAYS = 60
_SERIES = (
    "select day, metric, family, value, {baseline} as baseline, z, {threshold} as threshold, "
    "is_anomaly, status, {share} as share from quality.anomaly_results "
    "where day > (select max(day) from quality.anomaly_results) - interval '{days} days' "
    "order by day"
)


def series(service, metric: str) -> list[dict]:
    """One monitor's scores over its last :data:`SERIES_DAYS` days (value, expected value, z,
    threshold, share of the day's total for a segment): the series an anomaly alert links to.
    ``metric`` is the monitor's label (``orders``, ``orders[channel=web]``, ``files:orders``);
    it is compared with the stored labels as data, never written into the statement."""
    tables = {row["table_name"] for row in service.reader.run(_TABLES, 10).to_pylist()}
    if "anomaly_results" not in tables:
        return []
    columns = {r["column_name"] for r in service.reader.run(_ANOMALY_COLUMNS, 100).to_pylist()}
    sql = _SERIES.format(
        baseline="baseline" if "baseline" in columns else "baseline_median",
        threshold="threshold" if "threshold" in columns else "null",
        share="share" if "share" in columns else "null",
        days=int(SERIES_DAYS),
    )
    rows = service.reader.run(sql, 1_000_000).to_pylist()
    return [
        {key: _json(value) for key, value in row.items() if key != "metric"}
        for row in rows
        if row["metric"] == metric
    ]


def _json(value):
    value = python_value(value)
    return None if isinstance(value, float) and value != value else value  # NaN: no value
