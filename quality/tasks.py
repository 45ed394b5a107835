"""The quality runs, shared by the CLI (``python -m quality``) and the ``quality_checks`` DAG.

Each function runs one kind of check on the warehouse ``ingestion.warehouse.connect()`` names,
writes its rows to the ``quality`` schema, sends ONE alert for the run when it found warnings or
errors (grouped by table, :mod:`quality.alerting`) through ``send`` (direct from the environment
by default; the DAG passes the Airflow-connection sender) and returns a small JSON-able summary
with ``errors`` and ``warnings`` counts. Summaries and logs name checks and columns, never values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from . import alerting
from .alerts import Alert
from .results import SCHEMA, check_frame, write_checks
from .settings import config, data_docs_url

log = logging.getLogger(__name__)
Sender = Callable[[Alert], object]


def _direct(alert: Alert) -> object:
    from .notify import send_alert

    return send_alert(alert, raise_errors=False)


def _send_all(alerts: list[Alert], send: Sender | None) -> int:
    send = send or _direct
    for a in alerts:
        send(a)
    return len(alerts)


def _connect():
    from ingestion.warehouse import connect

    return connect()


def check_layer(layer: str, day: date | None = None, send: Sender | None = None) -> dict:
    """Run the GX suites of ``layer`` (``bronze`` includes the load audit and ``_rejects``)."""
    from .gx_run import run_layer
    from .rejects import summarize
    from .suites import checks_for

    began = time.perf_counter()
    tables = checks_for(layer, day)
    with _connect() as wh:
        outcomes = run_layer(layer, tables, wh)
        frame = check_frame(outcomes, layer, day, data_docs_url())
        write_checks(wh, frame)
        failed = [o for o in outcomes if not o.success]
        quarantined = any(o.suite == alerting.REJECTS_SUITE for o in failed)
        rejects = summarize(wh, day) if quarantined else []
    run_id = str(frame.run_id.iloc[0]) if len(frame) else None
    checked_at = frame.checked_at.iloc[0].to_pydatetime() if len(frame) else None
    alerts = alerting.gx_alerts(
        outcomes, layer, rejects=rejects, run_id=run_id, checked_at=checked_at
    )
    return {
        "layer": layer,
        "date": day.isoformat() if day else None,
        "run_id": run_id,
        "suites": len({o.suite for o in outcomes}),
        "expectations": len(outcomes),
        "errors": sum(o.severity == "error" for o in failed),
        "warnings": sum(o.severity != "error" for o in failed),
        "failed": sorted(
            {f"{o.suite}:{o.check}" + (f"({o.column})" if o.column else "") for o in failed}
        ),
        "alerts": _send_all(alerts, send),
        "seconds": round(time.perf_counter() - began, 1),
        "table": f"{SCHEMA}.check_results",
    }


def check_freshness(send: Sender | None = None) -> dict:
    """dbt source freshness plus each mart's lag behind the newest batch day, vs the SLAs."""
    from . import freshness

    began = time.perf_counter()
    items = freshness.dbt_sources()
    with _connect() as wh:
        items += freshness.mart_lags(wh)
        wh.execute(f"create schema if not exists {SCHEMA}")
        wh.write(freshness.frame(items), SCHEMA, "freshness_results")
    alerts = alerting.freshness_alerts(items)
    return {
        "checks": len(items),
        "errors": sum(i.severity == "error" for i in items),
        "warnings": sum(i.severity == "warning" for i in items),
        "failed": sorted(f"{i.kind}:{i.name}:{i.status}" for i in items if i.severity != "ok"),
        "alerts": _send_all(alerts, send),
        "seconds": round(time.perf_counter() - began, 1),
        "table": f"{SCHEMA}.freshness_results",
    }


def anomaly_day(wh, logical: date | None) -> tuple[date, str]:
    """The day the anomaly check scores, and why: the run's logical date (the day the run is
    for); without one (an asset-triggered run), the newest day of any file the loader saw,
    loaded or skipped, so a day whose files were all skipped as already loaded is scored, not
    the day before it. A logical date after every day the loader saw (a run scheduled after the
    data, as ``make run`` does) scores that newest day, and says so."""
    from .anomalies import newest_batch_day

    newest = newest_batch_day(wh)
    if newest is None:
        raise RuntimeError(
            f"{wh.settings.schema}._load_audit names no file: load a batch (python -m "
            "ingestion) before scoring anomalies"
        )
    if logical is not None and logical <= newest:
        return logical, "logical date"
    if logical is not None:
        return newest, f"newest batch day (logical date {logical} is after every loaded file)"
    return newest, "newest batch day"


def check_anomalies(day: date | None = None, send: Sender | None = None) -> dict:
    """Score ``day`` (see :func:`anomaly_day`) with every monitor family of
    :mod:`quality.monitors`; results to ``quality.anomaly_results``."""
    from . import anomalies
    from .monitors.detect import grouped

    began = time.perf_counter()
    settings = config().anomalies
    severity = settings.severity
    with _connect() as wh:
        day, why = anomaly_day(wh, day)
        scores = anomalies.detect(wh, day, settings)
        anomalies.write(wh, scores, day)
    hits = [s for s in scores if s.is_anomaly]
    statuses: dict[str, int] = {}
    for s in scores:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    alerts = alerting.anomaly_alerts(scores, severity)
    return {
        "date": day.isoformat(),
        "day_from": why,
        "metrics": len(scores),
        "statuses": statuses,
        "anomalies": sorted(s.metric for s in hits),
        "findings": grouped(scores),
        "errors": len(hits) if severity == "error" else 0,
        "warnings": len(hits) if severity != "error" else 0,
        "alerts": _send_all(alerts, send),
        "seconds": round(time.perf_counter() - began, 1),
        "table": f"{SCHEMA}.anomaly_results",
    }


def check_dbt_results(
    target: Path | None = None, send: Sender | None = None, link: str | None = None
) -> dict:
    """Alert on the dbt tests that warned, failed or errored in ``target``'s run_results.json
    (default: :func:`quality.dbt_results.default_target`). Nothing is written to the warehouse:
    dbt keeps its own results."""
    from . import dbt_results

    began = time.perf_counter()
    target = Path(target or dbt_results.default_target())
    results = dbt_results.read(target)
    alerts = alerting.dbt_alerts(results, link)
    return {
        "target": str(target),
        "invocation_id": results[0].invocation_id if results else None,
        "errors": sum(r.severity == "error" for r in results),
        "warnings": sum(r.severity == "warning" for r in results),
        "failed": [f"{r.where}:{r.name}:{r.status}" for r in results],
        "alerts": _send_all(alerts, send),
        "seconds": round(time.perf_counter() - began, 1),
        "table": str(target / "run_results.json"),
    }


# --------------------------------------------------------------------------- Airflow task bodies
def _airflow_send(alert: Alert) -> object:
    from .notify import send_alert_via_connections

    return send_alert_via_connections(alert, raise_errors=False)


def bronze_gate() -> dict:
    """The bronze gate of the DAG: every suite on all of bronze (load audit and quarantine too)."""
    return check_layer("bronze", None, send=_airflow_send)


def mart_checks() -> dict:
    return check_layer("marts", None, send=_airflow_send)


def freshness_task() -> dict:
    return check_freshness(send=_airflow_send)


#: the most days an asset-triggered run scores besides the newest (a long catch-up)
CATCHUP_SCORE_DAYS = 31


def unscored_days(logical_day: date | None) -> list[date]:
    """The days an asset-triggered run (no logical date) must score before the newest batch day:
    those after the last day already scored. One run can follow several loaded days (Airflow
    queues the asset events of a catch-up into one run), and each day is scored once."""
    if logical_day is not None:
        return []
    from datetime import timedelta

    from .anomalies import TABLE, newest_batch_day

    with _connect() as wh:
        newest = newest_batch_day(wh)
        if newest is None or not wh.table_exists(SCHEMA, TABLE):
            return []
        last = wh.rows(f"select max(day) from {SCHEMA}.{TABLE}")[0][0]
    if last is None:
        return []
    last = last if isinstance(last, date) else date.fromisoformat(str(last)[:10])
    first = max(last + timedelta(days=1), newest - timedelta(days=CATCHUP_SCORE_DAYS))
    return [first + timedelta(days=i) for i in range((newest - first).days)]


def anomalies_task(logical_day: date | None = None) -> dict:
    """The anomaly check of the run for ``logical_day``. An asset-triggered run (None) scores
    the newest batch day and, first, every day since the last one scored (see
    :func:`unscored_days`); the result is the newest day's, with the earlier days' findings."""
    earlier = [check_anomalies(d, send=_airflow_send) for d in unscored_days(logical_day)]
    result = check_anomalies(logical_day, send=_airflow_send)
    if earlier:
        result["earlier_days"] = [e["date"] for e in earlier]
        for e in earlier:
            result["anomalies"] = sorted(
                {*result["anomalies"], *(f"{e['date']}:{m}" for m in e["anomalies"])}
            )
            for key in ("errors", "warnings", "alerts"):
                result[key] = (result.get(key) or 0) + (e.get(key) or 0)
    return result


def dbt_results_task(link: str | None = None) -> dict:
    """Alert (through the Airflow connections) on the dbt tests that warned, failed or errored
    in the newest dbt run. It does not gate: dbt's own errors already fail the transform DAG. No
    (or an unreadable) run_results.json is logged, and nothing is sent."""
    try:
        return check_dbt_results(None, send=_airflow_send, link=link)
    except (FileNotFoundError, ValueError) as err:
        (log.info if isinstance(err, FileNotFoundError) else log.warning)(
            "dbt test results skipped: %s", err
        )
        return {"errors": 0, "warnings": 0, "alerts": 0, "failed": [], "skipped": str(err)}


def publish(results: dict[str, dict]) -> dict:
    """Fail (so the ``quality_results`` asset is not published) on any error-severity finding."""
    errors = {k: v.get("failed") or v.get("anomalies") for k, v in results.items() if v["errors"]}
    if errors:
        raise RuntimeError(f"quality gate failed: error-severity findings in {errors}")
    return {
        "passed": True,
        "warnings": sum(v["warnings"] for v in results.values()),
        **{k: v.get("run_id") for k, v in results.items() if v.get("run_id")},
    }
