"""Findings turned into :class:`quality.alerts.Alert`: one function per kind of check run (GX
outcomes, freshness verdicts, anomaly scores, dbt test results), each making at most ONE alert
per run, its findings grouped by table (or model, metric). Only warnings and errors count.

A GX alert's "since" is when the bad batch was loaded (the earliest ``_loaded_at`` among the
sampled bad rows, or the first rejected line), not when the check ran; the check time is a detail.
Links point at ``make docs`` (or the configured base URLs, :mod:`quality.settings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from .alerts import Alert, Finding, Group
from .anomalies import Score
from .dbt_results import DbtResult
from .freshness import Freshness
from .gx_run import Outcome
from .rejects import RejectSummary
from .samples import clip
from .settings import data_docs_url, dbt_docs_url

REJECTS_SUITE = "bronze._rejects"
LAYER_NAMES = {"bronze": "bronze gate", "marts": "mart checks"}


def _worst(severities: Iterable[str]) -> str:
    severities = list(severities)
    if "error" in severities:
        return "error"
    return "warning" if "warning" in severities else "info"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _where(groups: Sequence[Group], limit: int = 6) -> str:
    names = [g.name for g in groups]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _ordered(groups: dict[str, list[tuple[Finding, datetime | None]]]) -> list[Group]:
    out = []
    for name, items in groups.items():
        findings: dict[tuple[str, str | None], Finding] = {}
        for f, _ in sorted(items, key=lambda x: x[0].severity != "error"):
            findings.setdefault((f.check, f.column), f)  # de-duplicated
        since = min((s for _, s in items if s is not None), default=None)
        out.append(Group(name, tuple(findings.values()), since))
    return sorted(out, key=lambda g: (all(f.severity != "error" for f in g.findings), g.name))


def _finding(o: Outcome) -> Finding:
    if o.samples:
        return Finding(o.check, o.column, o.unexpected_count, o.samples, o.severity)
    note = clip(f"observed {o.observed}", 300) if o.observed else ""
    count = o.unexpected_count if o.unexpected_count and not o.observed else None
    return Finding(o.check, o.column, count, (), o.severity, note)


def gx_alerts(
    outcomes: list[Outcome],
    layer: str,
    link: str | None = None,
    rejects: Sequence[RejectSummary] = (),
    run_id: str | None = None,
    checked_at: datetime | None = None,
) -> list[Alert]:
    """One alert for a GX run with failed expectations (none when all passed), grouped by
    table. Rejected lines (``rejects``, masked previews) are shown under their own table."""
    failed = [o for o in outcomes if not o.success]
    if not failed:
        return []
    groups: dict[str, list[tuple[Finding, datetime | None]]] = {}
    for o in failed:
        if o.suite == REJECTS_SUITE and rejects:
            for r in rejects:
                f = Finding(o.check, None, r.count, r.samples, o.severity, "lines quarantined")
                groups.setdefault(f"bronze.{r.table}", []).append((f, r.since))
            continue
        groups.setdefault(o.suite, []).append((_finding(o), o.loaded_at))
    ordered = _ordered(groups)
    errors = sum(o.severity == "error" for o in failed)
    deviation = f"{_plural(errors, 'error')}, {_plural(len(failed) - errors, 'warning')}"
    rows = sum(f.count or 0 for g in ordered for f in g.findings)
    if rows:
        deviation += f"; {_plural(rows, 'failing row')}"
    details: list[tuple[str, object]] = [("Checked at", checked_at or datetime.now(UTC))]
    if run_id:
        details.append(("Check run", f"{run_id} (quality.check_results)"))
    name = LAYER_NAMES.get(layer, f"{layer} checks")
    return [
        Alert(
            severity=_worst(o.severity for o in failed),
            source="gx",
            title=f"{name}: {_plural(len(failed), 'check')} failed in "
            f"{_plural(len(ordered), 'table')}",
            where=_where(ordered),
            deviation=deviation,
            since=min((g.since for g in ordered if g.since), default=None),
            link=link or data_docs_url(),
            details=tuple(details),
            groups=tuple(ordered),
        )
    ]


def freshness_alerts(items: list[Freshness], link: str | None = None) -> list[Alert]:
    """One alert for the stale sources and marts of a freshness run, one group each."""
    stale = [f for f in items if f.severity in ("warning", "error")]
    if not stale:
        return []
    groups = []
    for f in stale:
        lag = "" if f.lag is None else f"; lag {f.lag:g}{'d' if f.kind == 'mart' else 's'}"
        note = f"{f.status}: newest {f.newest or 'none'}; SLA {f.limit}{lag}"
        severity = "error" if f.severity == "error" else "warning"
        groups.append(
            Group(f.name, (Finding(f"{f.kind} freshness", None, None, (), severity, note),))
        )
    errors = sum(f.severity == "error" for f in stale)
    return [
        Alert(
            severity=_worst(f.severity for f in stale),
            source="freshness",
            title=f"freshness: {_plural(len(stale), 'table')} late",
            where=_where(groups),
            deviation=f"{_plural(errors, 'error')}, {_plural(len(stale) - errors, 'warning')}",
            link=link or data_docs_url(),
            groups=tuple(groups),
        )
    ]


def anomaly_alerts(
    scores: list[Score], severity: str = "error", link: str | None = None
) -> list[Alert]:
    """One alert for the anomalous monitors of a scored day. The segments of one metric and
    dimension that moved are one group (``orders by channel``), each segment a finding with its
    value, expected value, z and share of the day's total; every other anomaly is a group of its
    own. Each finding links to its monitor's series in the metrics API (``/anomalies``)."""
    from urllib.parse import quote

    from .monitors.detect import FAMILIES
    from .settings import metrics_api_url

    hits = [s for s in scores if s.is_anomaly]
    if not hits:
        return []
    keyed: dict[tuple, list[Score]] = {}
    for s in hits:
        if s.dimension:
            key = (FAMILIES.index(s.family), s.base_metric, s.dimension, "")
        else:
            key = (FAMILIES.index(s.family), s.base_metric, "", s.metric)
        keyed.setdefault(key, []).append(s)
    api = metrics_api_url()
    groups = []
    for key in sorted(keyed):
        members = sorted(keyed[key], key=lambda h: -abs(h.z or 0))
        first = members[0]
        if first.dimension:
            prefix = "weekly: " if first.family == "weekly" else ""
            name = f"{prefix}{first.base_metric} by {first.dimension}"
        else:
            name = first.metric
        findings = tuple(
            Finding(
                h.segment if h.dimension else h.family,
                None,
                None,
                (),
                severity,
                _anomaly_note(h),
                link=f"{api}/anomalies?metric={quote(h.metric, safe='')}",
            )
            for h in members
        )
        groups.append(Group(name, findings))
    days = sorted({s.day for s in hits})
    day = days[0]
    names = [g.name for g in groups]
    return [
        Alert(
            severity=severity,
            source="anomaly",
            title=f"anomalies on {', '.join(map(str, days))}: "
            f"{', '.join(names[:4])}{' and more' if len(names) > 4 else ''}",
            where=_where(groups),
            deviation=f"{_plural(len(hits), 'monitor')} outside the expected range",
            since=datetime(day.year, day.month, day.day, tzinfo=UTC),
            link=link or data_docs_url(),
            groups=tuple(groups),
        )
    ]


def _anomaly_note(s: Score) -> str:
    """What moved, by how much: the monitor's own line (value, expected value, z and, for a
    segment, its share of the day's total), then the threshold and the history it stands on."""
    said = s.detail.split(": ", 1)[1] if s.detail and ": " in s.detail else s.detail
    if not said:
        value = "no value" if s.value is None else f"{s.value:,.6g}"
        expected = "n/a" if s.baseline is None else f"{s.baseline:,.6g}"
        z = "" if s.z is None else f" (z {s.z:+.1f})"
        said = f"{value} vs {expected} expected{z}"
    return f"{said}; threshold {s.threshold:g}, {s.history} days of history"


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dbt_alerts(results: list[DbtResult], link: str | None = None) -> list[Alert]:
    """One alert for the dbt tests of a run that warned (a warning), failed or errored (an
    error), grouped by model; each test links to its page in the dbt docs. The alert's link is
    ``link`` (e.g. the Airflow run), else the dbt docs."""
    if not results:
        return []
    verbs = {"warn": "warned", "fail": "failed", "error": "errored"}
    groups: dict[str, list[tuple[Finding, datetime | None]]] = {}
    for r in results:
        note = verbs[r.status] + (f": {r.message}" if r.failures is None and r.message else "")
        finding = Finding(
            r.name, r.column, r.failures, (), r.severity, note, link=dbt_docs_url(r.unique_id)
        )
        groups.setdefault(r.model or r.unique_id, []).append((finding, None))
    ordered = _ordered(groups)
    counts = {verbs[k]: sum(r.status == k for r in results) for k in ("fail", "error", "warn")}
    deviation = ", ".join(f"{n} {verb}" for verb, n in counts.items() if n)
    return [
        Alert(
            severity=_worst(r.severity for r in results),
            source="dbt",
            title=f"dbt tests need a look: {deviation}",
            where=_where(ordered),
            deviation=deviation,
            since=_moment(results[0].generated_at),
            link=link or dbt_docs_url(),
            details=(("dbt invocation", results[0].invocation_id),),
            groups=tuple(ordered),
        )
    ]
