"""The result tables (``quality.check_results``, ``freshness_results``, ``anomaly_results``) and
the gate verdict downstream ML reads.

``quality.check_results``: one row per expectation per run: ``run_id, checked_at, layer,
check_date, suite, expectation, column_name, severity, success, unexpected_count, observed,
data_docs_url``. ``observed`` is masked text (:mod:`quality.masking`): a few unexpected values
with every PII column masked, or what a table-level check saw. "The latest gate passed" = the
newest ``run_id`` (by ``checked_at``) of the layer has no row with ``severity = 'error' and
success = false``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from .gx_run import Outcome

SCHEMA = "quality"


@dataclass(frozen=True)
class GateResult:
    run_id: str | None
    checked_at: datetime | None
    passed: bool
    failures: list[dict]


def check_frame(
    outcomes: list[Outcome], layer: str, day: date | None, docs_url: str
) -> pd.DataFrame:
    run_id = uuid.uuid4().hex
    now = datetime.now(UTC).replace(tzinfo=None)
    return pd.DataFrame(
        {
            "run_id": [run_id] * len(outcomes),
            "checked_at": pd.Series([now] * len(outcomes), dtype="datetime64[us]"),
            "layer": [layer] * len(outcomes),
            "check_date": pd.Series([day] * len(outcomes), dtype="object"),
            "suite": [o.suite for o in outcomes],
            "expectation": [f"{o.check}:{o.expectation}" for o in outcomes],
            "column_name": [o.column for o in outcomes],
            "severity": [o.severity for o in outcomes],
            "success": pd.Series([o.success for o in outcomes], dtype="bool"),
            "unexpected_count": pd.Series([o.unexpected_count for o in outcomes], dtype="int64"),
            "observed": [o.observed for o in outcomes],
            "data_docs_url": [docs_url] * len(outcomes),
        }
    )


def ensure_tables(wh) -> None:
    """Create ``quality.check_results`` with its contracted types (a frame's nullable date would
    otherwise type it as text)."""
    wh.execute(f"create schema if not exists {SCHEMA}")
    wh.execute(
        f"create table if not exists {SCHEMA}.check_results (run_id varchar, checked_at timestamp, "
        "layer varchar, check_date date, suite varchar, expectation varchar, column_name varchar, "
        "severity varchar, success boolean, unexpected_count bigint, observed varchar, "
        "data_docs_url varchar)"
    )


def write_checks(wh, frame: pd.DataFrame) -> None:
    ensure_tables(wh)
    if len(frame):
        wh.write(frame, SCHEMA, "check_results")


def latest_gate(layer: str = "bronze", wh=None) -> GateResult:
    """The verdict of the newest run of ``layer`` (no run yet: not passed)."""
    from ingestion.warehouse import connect

    own = wh is None
    wh = wh or connect()
    try:
        if not wh.table_exists(SCHEMA, "check_results"):
            return GateResult(None, None, False, [])
        mark = wh.mark
        df = wh.frame(
            f"select * from {SCHEMA}.check_results where layer = {mark} and run_id = "
            f"(select run_id from {SCHEMA}.check_results where layer = {mark} "
            "order by checked_at desc limit 1)",
            [layer, layer],
        )
    finally:
        if own:
            wh.close()
    if df.empty:
        return GateResult(None, None, False, [])
    bad = df[(df.severity == "error") & (~df.success.astype(bool))]
    failures = bad[["suite", "expectation", "column_name", "unexpected_count", "observed"]]
    return GateResult(
        str(df.run_id.iloc[0]),
        pd.Timestamp(df.checked_at.iloc[0]).to_pydatetime(),
        bad.empty,
        failures.to_dict("records"),
    )
