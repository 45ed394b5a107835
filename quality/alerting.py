"""Findings turned into :class:`quality.alerts.Alert`: one function per finding type (GX
outcomes, freshness verdicts, anomaly scores, dbt test results). Only warnings and errors become
alerts; each links to the Data Docs (dbt tests: to the dbt docs or the run that built them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from .alerts import Alert
from .anomalies import Score
from .dbt_results import DbtResult
from .freshness import Freshness
from .gx_run import Outcome
from .settings import data_docs_url, dbt_docs_url


def _worst(severities: Iterable[str]) -> str:
    return "error" if "error" in severities else "warning"


def gx_alerts(outcomes: list[Outcome], layer: str, link: str | None = None) -> list[Alert]:
    """One alert per suite with failed expectations, listing each failure."""
    failed: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if not o.success:
            failed[o.suite].append(o)
    now = datetime.now(UTC)
    out = []
    for suite, items in failed.items():
        details = tuple(
            (
                f"{o.check} ({o.column})" if o.column else o.check,
                f"{o.severity}: {o.unexpected_count} unexpected"
                + (f"; {o.observed}" if o.observed else ""),
            )
            for o in items
        )
        out.append(
            Alert(
                severity=_worst(o.severity for o in items),
                source="gx",
                title=f"{layer} suite {suite} failed {len(items)} check(s)",
                where=suite,
                deviation=", ".join(f"{o.check}: {o.unexpected_count} unexpected" for o in items),
                since=now,
                link=link or data_docs_url(),
                details=details,
            )
        )
    return out


def freshness_alerts(items: list[Freshness], link: str | None = None) -> list[Alert]:
    out = []
    for f in items:
        if f.severity not in ("warning", "error"):
            continue
        lag = "" if f.lag is None else f" (lag {f.lag:g}{'d' if f.kind == 'mart' else 's'})"
        out.append(
            Alert(
                severity=f.severity,
                source="freshness",
                title=f"{f.kind} {f.name} is {f.status}{lag}",
                where=f.name,
                deviation=f"newest {f.newest or 'none'}; SLA {f.limit}",
                link=link or data_docs_url(),
                details=(("Status", f.status), ("Newest", f.newest or "none"), ("SLA", f.limit)),
            )
        )
    return out


def anomaly_alerts(
    scores: list[Score], severity: str = "error", link: str | None = None
) -> list[Alert]:
    out = []
    for s in scores:
        if not s.is_anomaly:
            continue
        out.append(
            Alert(
                severity=severity,
                source="anomaly",
                title=f"{s.metric} on {s.day} is anomalous (z {s.z:+.1f})",
                where=s.metric,
                deviation=(
                    f"value {s.value:g} vs same-weekday median {s.baseline_median:g} "
                    f"(robust z {s.z:+.2f}, threshold {s.threshold:g})"
                ),
                since=datetime(s.day.year, s.day.month, s.day.day, tzinfo=UTC),
                link=link or data_docs_url(),
                details=(("Baseline days", str(s.history)), ("MAD", f"{s.mad:g}")),
            )
        )
    return out


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dbt_alerts(results: list[DbtResult], link: str | None = None) -> list[Alert]:
    """One alert per dbt test that warned (a warning), failed or errored (an error). The link
    is ``link`` (e.g. the Airflow run), else the test's page in the dbt docs (``DBT_DOCS_URL``)."""
    verbs = {"warn": "warned", "fail": "failed", "error": "errored"}
    out = []
    for r in results:
        if r.failures is not None:
            deviation = f"{r.failures:,} failing row(s)"
        else:
            deviation = r.message or r.status
        details = [("Test", r.test), ("Status", r.status)]
        if r.message:
            details.append(("Message", r.message))
        if r.path:
            details.append(("Defined in", r.path))
        details.append(("dbt invocation", r.invocation_id))
        out.append(
            Alert(
                severity=r.severity,
                source="dbt",
                title=f"dbt test {r.name} {verbs[r.status]}",
                where=r.where,
                deviation=deviation,
                since=_moment(r.generated_at),
                link=link or dbt_docs_url(r.unique_id),
                details=tuple(details),
            )
        )
    return out
