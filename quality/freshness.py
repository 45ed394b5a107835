"""Freshness: ``dbt source freshness`` (its ``sources.json``) plus the lag of each mart's newest
date behind the newest loaded batch day, against the SLAs of ``config.yml`` (``freshness``).

An empty bronze table (the start of a backfill) makes dbt report ``error`` with no
``max_loaded_at``: it is recorded as status ``no_data`` with ``freshness.empty_source_severity``
(a warning by default), not as a breach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from platform_core.settings import current

from .anomalies import DAY_OF_FILE
from .settings import config


@dataclass(frozen=True)
class Freshness:
    kind: str  # source | mart
    name: str
    status: str  # pass | warn | error | no_data
    severity: str  # ok | warning | error
    newest: str | None
    lag: float | None
    limit: str


def dbt_sources(target_path: Path | None = None) -> list[Freshness]:
    from platform_core.dbt_runner import run
    from platform_core.paths import DBT_PROJECT

    target_path = target_path or DBT_PROJECT / "target" / "quality"
    doc = target_path / "sources.json"
    doc.unlink(missing_ok=True)  # never read an earlier run's verdicts
    # a stale source is a node with status error: its verdict is read from sources.json below;
    # anything else that fails (no warehouse, a lock, a broken query) raises with dbt's lines
    run(
        current().target,
        "source",
        "freshness",
        target_path=target_path,
        allow=("error", "warn"),
    )
    if not doc.is_file():
        raise RuntimeError(f"dbt source freshness succeeded but wrote no {doc}")
    empty = config().freshness.empty_source_severity
    out = []
    for r in json.loads(doc.read_text()).get("results", []):
        name = r["unique_id"].split(".", 2)[-1]
        status = r.get("status", "error")
        newest = r.get("max_loaded_at")
        if status in ("error", "runtime error") and not newest:
            status, severity = "no_data", empty
        else:
            severity = {"pass": "ok", "warn": "warning"}.get(status, "error")
        crit = r.get("criteria") or {}
        out.append(
            Freshness(
                "source",
                name,
                status,
                severity,
                newest,
                r.get("max_loaded_at_time_ago_in_s"),
                json.dumps(crit, sort_keys=True)[:200],
            )
        )
    return out


def mart_lags(wh) -> list[Freshness]:
    newest_batch: date | None = None
    if wh.table_exists("bronze", "orders"):
        got = wh.rows(f"select max({DAY_OF_FILE}) from bronze.orders")
        newest_batch = got[0][0] if got else None
    out = []
    for table, sla in config().freshness.marts.items():
        limit = f"warn>{sla.warn_after_days}d error>{sla.error_after_days}d"
        if not wh.table_exists("marts", table):
            out.append(Freshness("mart", table, "error", "error", None, None, limit))
            continue
        newest = wh.rows(f"select max({sla.column}) from marts.{table}")[0][0]
        if newest is None or newest_batch is None:
            out.append(Freshness("mart", table, "no_data", "error", None, None, limit))
            continue
        lag = (pd.Timestamp(newest_batch) - pd.Timestamp(newest)).days
        status = (
            "error"
            if lag > sla.error_after_days
            else "warn"
            if lag > sla.warn_after_days
            else "pass"
        )
        severity = {"pass": "ok", "warn": "warning"}.get(status, "error")
        out.append(Freshness("mart", table, status, severity, str(newest), float(lag), limit))
    return out


def frame(items: list[Freshness]) -> pd.DataFrame:
    now = datetime.now(UTC).replace(tzinfo=None)
    return pd.DataFrame(
        {
            "checked_at": pd.Series([now] * len(items), dtype="datetime64[us]"),
            "kind": [i.kind for i in items],
            "name": [i.name for i in items],
            "status": [i.status for i in items],
            "severity": [i.severity for i in items],
            "newest": [i.newest for i in items],
            "lag": pd.Series([i.lag for i in items], dtype="float64"),
            "sla": [i.limit for i in items],
        }
    )
