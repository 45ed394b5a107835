"""Score one day with every monitor family; one :class:`Score` per metric, segment and family.

Families (thresholds, floors and directions in ``config.yml`` under ``anomalies``):

- ``day``: company totals, each day against its weekday-adjusted trailing baseline;
- ``segment``: the same score per segment of the configured dimensions (channel, product
  category, carrier, facility, destination state), for segments above a volume floor;
- ``weekly``: the last 7 days pooled against the 4 weeks before (gradual drift, and metrics too
  sparse for a day-level score), totals and configured segments;
- ``files``: a table that normally gets a newly loaded file each day and got none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from . import files as files_monitor
from .metrics import METRICS, Series, load_series
from .scoring import Verdict, breaches, day_score, segment_score, window_score
from .settings import AnomalySettings

FAMILIES = ("day", "segment", "weekly", "files")


@dataclass(frozen=True)
class Score:
    """One monitor's verdict on one day. ``metric`` is the full label, unique per day:
    ``revenue`` (day), ``revenue[channel=web]`` (segment), ``weekly:defect_rate`` or
    ``weekly:defect_rate[facility=Reno Assembly]`` (weekly), ``files:orders`` (files)."""

    day: date
    metric: str
    value: float | None
    baseline: float | None  # the expected value
    spread: float | None  # one standard deviation around it, in the metric's units
    z: float | None
    threshold: float
    is_anomaly: bool
    status: str  # ok | anomaly | insufficient_history | low_volume | no_value
    history: int  # days in the baseline
    family: str = "day"
    base_metric: str = ""
    dimension: str | None = None
    segment: str | None = None
    share: float | None = None  # the segment's share of the day's total (segment family)
    direction: str = "both"
    detail: str = ""  # one line for people: what moved, by how much


def label(family: str, metric: str, dimension: str | None, segment: str | None) -> str:
    name = f"weekly:{metric}" if family == "weekly" else metric
    return f"{name}[{dimension}={segment}]" if dimension else name


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value:.1%}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _score(
    family: str,
    series: Series,
    v: Verdict,
    day: date,
    threshold: float,
    s: AnomalySettings,
    share: float | None = None,
) -> Score:
    rule = s.rule(series.metric)
    kind = METRICS[series.metric].kind
    hit = False
    if v.status == "ok":
        ratio = None
        if family == "day" and v.baseline and v.value is not None and kind != "rate":
            ratio = v.value / v.baseline
        hit = breaches(v.z, threshold, rule.direction, ratio, s.day.max_ratio, s.day.max_ratio_z)
    name = label(family, series.metric, series.dimension, series.segment)
    detail = ""
    if v.status == "ok":
        span = "7 days" if family == "weekly" else str(day)
        detail = (
            f"{name} {span}: {_fmt(v.value, kind)} vs {_fmt(v.baseline, kind)} expected "
            f"(z {v.z:+.1f})"
        )
        if share is not None:
            detail += f", {share:.0%} of the total"
    return Score(
        day=day,
        metric=name,
        value=v.value,
        baseline=v.baseline,
        spread=v.spread,
        z=None if v.z is None else round(float(v.z), 3),
        threshold=threshold,
        is_anomaly=bool(hit),
        status="anomaly" if hit else v.status,
        history=v.history,
        family=family,
        base_metric=series.metric,
        dimension=series.dimension,
        segment=series.segment,
        share=share,
        direction=rule.direction,
        detail=detail,
    )


def _day_verdict(series: Series, day: date, s: AnomalySettings, min_volume: float) -> Verdict:
    d = s.day
    return day_score(
        METRICS[series.metric].kind,
        series.numerator,
        series.denominator,
        series.volume,
        day,
        window_days=d.window_days,
        level_days=d.level_days,
        min_history=d.min_history,
        min_volume=min_volume,
        relative_floor=d.relative_floor,
        first_day=series.first_day,
        squares=series.squares,
    )


def _window_verdict(
    series: Series, day: date, s: AnomalySettings, total: Series | None = None
) -> Verdict:
    w = s.weekly
    return window_score(
        METRICS[series.metric].kind,
        series.numerator,
        series.denominator,
        series.volume,
        day,
        window_days=w.window_days,
        reference_days=w.reference_days,
        min_reference_days=w.min_reference_days,
        min_volume=w.min_volume,
        squares=series.squares,
        days_seen=None if total is None else {d for d, v in total.volume.items() if v > 0},
    )


def wanted(s: AnomalySettings) -> dict[str, set[str | None]]:
    """The series the settings ask for: metric -> dimensions (None: the company total)."""
    out: dict[str, set[str | None]] = {m: {None} for m in METRICS}
    for dims in (s.segments.dimensions, s.weekly.dimensions):
        for dim, metrics in dims.items():
            for m in metrics:
                out[m].add(dim)
    return out


def history_start(day: date, s: AnomalySettings) -> date:
    back = max(
        s.day.window_days,
        s.segments.window_days,
        s.weekly.window_days + s.weekly.reference_days,
    )
    return day - timedelta(days=back)


def _share_today(seg: Series, total: Series, day: date) -> float | None:
    kind = METRICS[seg.metric].kind
    part = seg.denominator if kind == "rate" else seg.numerator
    whole = total.denominator if kind == "rate" else total.numerator
    if not whole.get(day):
        return None
    return part.get(day, 0.0) / whole[day]


def score_series(
    data: dict[tuple[str, str | None], list[Series]], day: date, s: AnomalySettings
) -> list[Score]:
    """Every family but ``files`` on ``day``, from series loaded by :func:`load_series`."""
    out: list[Score] = []
    totals = {m: parts[0] for (m, dim), parts in data.items() if dim is None and parts}
    for total in totals.values():
        verdict = _day_verdict(total, day, s, s.day.min_volume)
        out.append(_score("day", total, verdict, day, s.day.threshold, s))
    seg = s.segments
    for dim, metrics in seg.dimensions.items():
        for metric in metrics:
            total = totals.get(metric)
            for series in data.get((metric, dim), []) if total else []:
                v = segment_score(
                    METRICS[metric].kind,
                    (series.numerator, series.denominator, series.volume),
                    (total.numerator, total.denominator),
                    day,
                    window_days=seg.window_days,
                    level_days=seg.level_days,
                    min_history=s.day.min_history,
                    min_volume=seg.min_volume,
                    min_share=seg.min_share,
                    relative_floor=s.day.relative_floor,
                    first_day=series.first_day,
                    squares=(series.squares or {}, total.squares or {}),
                )
                share = _share_today(series, total, day)
                out.append(_score("segment", series, v, day, seg.threshold, s, share))
    w = s.weekly
    for metric in w.metrics:
        if metric in totals:
            total = totals[metric]
            out.append(_score("weekly", total, _window_verdict(total, day, s), day, w.threshold, s))
    for dim, metrics in w.dimensions.items():
        for metric in metrics:
            for series in data.get((metric, dim), []):
                v = _window_verdict(series, day, s, totals.get(metric))
                out.append(_score("weekly", series, v, day, w.threshold, s))
    return out


def score_files(days: list[files_monitor.FileDay], day: date, s: AnomalySettings) -> list[Score]:
    out = []
    for v in files_monitor.file_verdicts(days, day, s.files):
        if v.expected_days < s.files.min_history:
            status = "insufficient_history"
        elif not v.normal:
            status = "low_volume"  # not a table that gets a file every day
        else:
            status = "ok" if v.new_today else "anomaly"
        hit = status == "anomaly"
        # z: how far no file is from the table's daily habit (binomial, share smoothed)
        p = (v.days_with_new + 0.5) / (v.expected_days + 1.0)
        sd = math.sqrt(p * (1 - p))
        why = (
            "its file was skipped: the same content was already loaded"
            if v.skipped_today
            else "no file"
        )
        detail = (
            f"files:{v.table} {day}: no newly loaded file ({why}); it got one on "
            f"{v.days_with_new} of the {v.expected_days} days before"
            if hit
            else ""
        )
        out.append(
            Score(
                day=day,
                metric=f"files:{v.table}",
                value=float(v.new_today),
                baseline=round(v.share, 3),
                spread=round(sd, 3),
                z=round((float(v.new_today) - p) / sd, 3),
                threshold=s.files.normal_share,
                is_anomaly=hit,
                status=status,
                history=v.expected_days,
                family="files",
                base_metric=f"files_{v.table}",
                direction="drop",
                detail=detail,
            )
        )
    return out


def detect(wh, day: date, s: AnomalySettings) -> list[Score]:
    """Every monitor's score of ``day`` on the warehouse ``wh`` with the settings ``s``
    (``config().anomalies``; :func:`quality.anomalies.detect` passes them)."""
    data = load_series(wh, wanted(s), history_start(day, s), day)
    start = day - timedelta(days=s.files.window_days)
    audit = files_monitor.audit_days(wh, start, day)
    return score_series(data, day, s) + score_files(audit, day, s)


def grouped(scores: list[Score]) -> list[str]:
    """One line per finding: the anomalous segments of one metric and dimension together
    (``orders by channel: web 260 vs 440 expected (z -6.1), 28% of the total; ...``), every
    other anomaly on its own line. Ordered by family, then metric."""
    groups: dict[tuple, list[Score]] = {}
    for s in scores:
        if s.is_anomaly:
            key = (FAMILIES.index(s.family), s.base_metric, s.dimension or "", s.metric)
            if s.dimension:
                key = key[:3]
            groups.setdefault(key, []).append(s)
    lines = []
    for key in sorted(groups):
        hits = groups[key]
        first = hits[0]
        if not first.dimension:
            lines.append(first.detail)
            continue
        prefix = "weekly:" if first.family == "weekly" else ""
        parts = [h.detail.split(": ", 1)[1] for h in sorted(hits, key=lambda h: -abs(h.z or 0))]
        names = [h.segment for h in sorted(hits, key=lambda h: -abs(h.z or 0))]
        moved = "; ".join(f"{n} {p}" for n, p in zip(names, parts, strict=True))
        lines.append(f"{prefix}{first.base_metric} by {first.dimension}: {moved}")
    return lines
