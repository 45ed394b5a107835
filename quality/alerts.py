"""One alert format for every source of alerts, rendered for Slack and for email.

An :class:`Alert` says what happened (``title``), where (``where``), how far off (``deviation``),
since when (``since``) and where to look (``link``), plus a few labelled ``details``. A check run
with many findings sends ONE alert whose ``groups`` list them per table: each :class:`Finding`
names the check, the column, the failing-row count and a few masked sample values as text.
Airflow task failures, Great Expectations gates, freshness and anomaly checks, dbt tests and ML
promotion all build one; :mod:`quality.notify` sends it. Nothing here imports Airflow.

Every text of an alert is scrubbed of emails and phone numbers when the alert is made
(:func:`ingestion.pii.scrub_text`), the last line of defence behind the masking of PII columns.

Settings come from the environment (:meth:`AlertSettings.from_env`):

| variable | meaning | default |
| --- | --- | --- |
| ``ALERT_SUPPRESS_MINUTES`` | repeats of one alert within this many minutes are not sent (0: off) | ``60`` |
| ``ALERT_STATE_PATH`` | SQLite file remembering what was sent when | ``<repo>/.local/alerts/state.sqlite`` |
| ``SLACK_WEBHOOK_URL`` | Slack incoming-webhook URL (unset: no Slack) | none |
| ``SMTP_HOST`` ``SMTP_PORT`` | mail server (unset host: no email) | none, ``25`` |
| ``SMTP_USER`` ``SMTP_PASSWORD`` | login, if the server wants one | none |
| ``SMTP_FROM`` ``SMTP_TO`` | sender; recipients, comma-separated (unset: no email) | ``alerts@localhost``, none |
| ``SMTP_STARTTLS`` ``SMTP_SSL`` | upgrade with STARTTLS; or connect with TLS (port 465) | ``false``, ``false`` |

Links (Data Docs, dbt docs, MLflow, Airflow) come from :mod:`quality.settings`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from ingestion.pii import scrub_text
from platform_core.settings import BY_NAME

from .samples import clip, text

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_STATE_PATH = ROOT / ".local" / "alerts" / "state.sqlite"

SEVERITIES = ("info", "warning", "error")
SOURCES = ("airflow", "gx", "freshness", "anomaly", "dbt", "ml", "pipeline")
_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":rotating_light:"}
_LINK_LABEL = {
    "airflow": "Open task log",
    "gx": "Open Data Docs",
    "freshness": "Open Data Docs",
    "anomaly": "Open Data Docs",
    "dbt": "Open dbt docs",
    "ml": "Open MLflow",
}

# Block Kit limits (https://api.slack.com/reference/block-kit/blocks)
_HEADER_MAX = 150
_FIELD_MAX = 2000
_FIELDS_PER_SECTION = 10
_TEXT_MAX = 3000
_BLOCKS_MAX = 50
_GROUPS_MAX = 30  # groups shown in one message (Slack and email); the rest are counted


# --------------------------------------------------------------------------- the alert
@dataclass(frozen=True)
class Finding:
    """One failed check of a grouped alert: ``check`` on ``column``, ``count`` failing rows
    (None when the check does not count rows), up to a few ``samples`` (masked, as text), a
    ``note`` (what was observed) and an optional ``link`` to the check's own page."""

    check: str
    column: str | None = None
    count: int | None = None
    samples: tuple[str, ...] = ()
    severity: str = "error"
    note: str = ""
    link: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"Finding severity {self.severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        object.__setattr__(self, "check", _clean(self.check))
        if self.column is not None:
            object.__setattr__(self, "column", _clean(self.column))
        object.__setattr__(self, "samples", tuple(_clean(s) for s in self.samples))
        object.__setattr__(self, "note", _clean(self.note))


@dataclass(frozen=True)
class Group:
    """The findings of one table (or model, metric); ``since`` = when its bad batch was loaded."""

    name: str
    findings: tuple[Finding, ...]
    since: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _clean(self.name))
        object.__setattr__(self, "findings", tuple(self.findings))


@dataclass(frozen=True)
class Alert:
    """One thing someone should look at.

    ``details`` are ``(label, value)`` pairs shown in order (values are turned into text);
    ``groups`` list a check run's findings per table; ``key`` identifies repeats of the same
    alert for suppression.
    """

    severity: str
    source: str
    title: str
    where: str
    deviation: str | None = None
    since: datetime | None = None
    link: str | None = None
    details: tuple[tuple[str, str], ...] = ()
    groups: tuple[Group, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"Alert severity {self.severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        if not self.source or not self.title or not self.where:
            raise ValueError(
                "an Alert needs a source, a title and a where "
                f"(got source={self.source!r}, title={self.title!r}, where={self.where!r})"
            )
        # one line each: they go into a subject, a header and the suppression key
        object.__setattr__(self, "title", _clean(self.title))
        object.__setattr__(self, "where", _clean(self.where))
        if self.deviation is not None:
            object.__setattr__(self, "deviation", scrub_text(str(self.deviation)))
        details = tuple((str(label), scrub_text(_text(value))) for label, value in self.details)
        object.__setattr__(self, "details", details)
        object.__setattr__(self, "groups", tuple(self.groups))

    @property
    def key(self) -> str:
        """Source, place, title and (grouped) the failed checks: what makes two alerts "the
        same" for suppression."""
        base = f"{self.source}|{self.where}|{self.title}"
        if not self.groups:
            return base
        checks = sorted(
            f"{g.name}:{f.check}:{f.column or ''}" for g in self.groups for f in g.findings
        )
        return base + "|" + ",".join(checks)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _clean(value: Any) -> str:
    """One line, scrubbed of emails and phone numbers."""
    return scrub_text(_one_line(value))


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if value is None:
        return ""
    return value if isinstance(value, str) else text(value)


def _when(moment: datetime) -> str:
    """A timestamp as people read it, in UTC (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _safe_link(link: str | None) -> str | None:
    """Only http(s) links become clickable (no ``javascript:`` or ``file:`` in an email)."""
    if link and link.lower().startswith(("http://", "https://")):
        return link
    return None


def rows(alert: Alert) -> list[tuple[str, str]]:
    """The labelled lines every rendering shows, in order."""
    out = [("Where", alert.where)]
    if alert.deviation:
        out.append(("Deviation", alert.deviation))
    if alert.since is not None:
        out.append(("Since", _when(alert.since)))
    out.extend(alert.details)
    return out


def _rows_text(count: int | None) -> str:
    return "" if count is None else f"{count:,} row{'' if count == 1 else 's'}"


def group_heading(group: Group) -> str:
    """``bronze.orders: 3 checks failed, bad batch loaded 2026-01-05 03:00:00 UTC``."""
    n = len(group.findings)
    head = f"{group.name}: {n} check{'' if n == 1 else 's'} failed"
    return head + (f", bad batch loaded {_when(group.since)}" if group.since else "")


def finding_line(f: Finding) -> str:
    """``allowed_values on segment (warning): 2 rows; samples: vip · v***@e***.com``."""
    line = f.check + (f" on {f.column}" if f.column else "")
    if f.severity != "error":
        line += f" ({f.severity})"
    parts = [p for p in (_rows_text(f.count), f.note) if p]
    if f.samples:
        parts.append("samples: " + " · ".join(f.samples))
    return line + (": " + "; ".join(parts) if parts else "")


def _shown_groups(alert: Alert) -> tuple[list[Group], int]:
    return list(alert.groups[:_GROUPS_MAX]), max(len(alert.groups) - _GROUPS_MAX, 0)


# --------------------------------------------------------------------------- Slack
def _mrkdwn(value: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(value: str, limit: int) -> str:
    return clip(value, limit)


def _code(value: str) -> str:
    return f"`{_mrkdwn(value)}`" if "`" not in value else _mrkdwn(value)


def _slack_finding(f: Finding) -> str:
    name = _code(f.check)
    link = _safe_link(f.link)
    if link:
        name = f"<{link}|{_mrkdwn(f.check)}>"
    line = f"• {name}" + (f" on {_code(f.column)}" if f.column else "")
    if f.severity != "error":
        line += f" _({f.severity})_"
    parts = [_mrkdwn(p) for p in (_rows_text(f.count), f.note) if p]
    if f.samples:
        parts.append("samples: " + " · ".join(_code(s) for s in f.samples))
    return line + (": " + "; ".join(parts) if parts else "")


def _slack_group(group: Group) -> dict:
    n = len(group.findings)
    head = f"*{_mrkdwn(group.name)}* · {n} check{'' if n == 1 else 's'} failed"
    if group.since:
        head += f" · bad batch loaded {_when(group.since)}"
    lines = [head]
    size = len(head)
    for i, f in enumerate(group.findings):
        line = _slack_finding(f)
        if size + len(line) + 40 > _TEXT_MAX:
            lines.append(f"… and {n - i} more (see the link)")
            break
        lines.append(line)
        size += len(line) + 1
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def to_slack(alert: Alert) -> dict:
    """A Slack incoming-webhook payload: ``text`` (notification fallback) and Block Kit blocks."""
    fallback = f"[{alert.severity.upper()}] {alert.title} ({alert.where})"
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _clip(f"{_EMOJI[alert.severity]} {alert.title}", _HEADER_MAX),
                "emoji": True,
            },
        }
    ]
    fields = [
        {"type": "mrkdwn", "text": _clip(f"*{_mrkdwn(label)}*\n{_mrkdwn(value)}", _FIELD_MAX)}
        for label, value in rows(alert)
    ]
    for start in range(0, len(fields), _FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + _FIELDS_PER_SECTION]})
    groups, hidden = _shown_groups(alert)
    room = _BLOCKS_MAX - len(blocks) - 3  # the divider, the context and the button
    if groups:
        blocks.append({"type": "divider"})
        hidden += max(len(groups) - room, 0)
        blocks += [_slack_group(g) for g in groups[:room]]
    context = f"*{alert.severity.upper()}* · source `{_mrkdwn(alert.source)}`"
    if hidden:
        context += f" · {hidden} more not shown (see the link)"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    link = _safe_link(alert.link)
    if link:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": _LINK_LABEL.get(alert.source, "Open")},
            "url": link,
            "action_id": "open_link",
        }
        if alert.severity == "error":
            button["style"] = "danger"
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": _clip(_mrkdwn(fallback), _TEXT_MAX), "blocks": blocks}


# --------------------------------------------------------------------------- email
@cache
def _templates():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def to_email(alert: Alert) -> tuple[str, str, str]:
    """``(subject, html body, plain-text body)``; every value is HTML-escaped in the HTML."""
    subject = _clip(f"[{alert.severity.upper()}] {alert.title} · {alert.where}", 200)
    groups, hidden = _shown_groups(alert)
    values = {
        "alert": alert,
        "severity": alert.severity.upper(),
        "rows": rows(alert),
        "groups": [
            {
                "heading": group_heading(g),
                "name": g.name,
                "since": _when(g.since) if g.since else "",
                "findings": [
                    {
                        "line": finding_line(f),
                        "check": f.check,
                        "column": f.column or "",
                        "rows": _rows_text(f.count),
                        "severity": f.severity,
                        "note": f.note,
                        "samples": list(f.samples),
                        "link": _safe_link(f.link),
                    }
                    for f in g.findings
                ],
            }
            for g in groups
        ],
        "hidden": hidden,
        "link": _safe_link(alert.link),
        "link_label": _LINK_LABEL.get(alert.source, "Open"),
        "colour": {"info": "#1d72b8", "warning": "#c98a00", "error": "#c0392b"}[alert.severity],
    }
    env = _templates()
    html = env.get_template("alert_email.html").render(values)
    plain = env.get_template("alert_email.txt").render(values)
    return subject, html, plain


# --------------------------------------------------------------------------- settings
def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean; use true or false")


def _default(name: str) -> float:
    return float(BY_NAME[name].default)


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must not be negative")
    return value


def _addresses(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    if not raw:
        return ()
    parts = raw.replace(";", ",").split(",") if isinstance(raw, str) else list(raw)
    return tuple(p.strip() for p in parts if p and p.strip())


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and how often; see the module docstring for the variables."""

    suppress_minutes: float = 60.0
    state_path: Path = DEFAULT_STATE_PATH
    slack_webhook_url: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "alerts@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> AlertSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "suppress_minutes": _number(
                env, "ALERT_SUPPRESS_MINUTES", _default("ALERT_SUPPRESS_MINUTES")
            ),
            "state_path": Path(env.get("ALERT_STATE_PATH") or DEFAULT_STATE_PATH),
            "slack_webhook_url": env.get("SLACK_WEBHOOK_URL", "").strip() or None,
            "smtp_host": env.get("SMTP_HOST", "").strip() or None,
            "smtp_port": _number(env, "SMTP_PORT", int(_default("SMTP_PORT")), int),
            "smtp_user": env.get("SMTP_USER", "").strip() or None,
            "smtp_password": env.get("SMTP_PASSWORD") or None,
            "smtp_from": env.get("SMTP_FROM", "").strip() or "alerts@localhost",
            "smtp_to": _addresses(env.get("SMTP_TO")),
            "smtp_starttls": _flag(env, "SMTP_STARTTLS", False),
            "smtp_ssl": _flag(env, "SMTP_SSL", False),
        }
        if "smtp_to" in overrides:
            overrides["smtp_to"] = _addresses(overrides["smtp_to"])
        values.update(overrides)
        return cls(**values)

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_webhook_url)

    @property
    def email_configured(self) -> bool:
        return bool(self.smtp_host and self.smtp_to)

    def suppressor(self) -> Suppressor | None:
        """The suppressor these settings ask for (``None`` when ``ALERT_SUPPRESS_MINUTES=0``)."""
        if self.suppress_minutes <= 0:
            return None
        return Suppressor(self.state_path, timedelta(minutes=self.suppress_minutes))


# --------------------------------------------------------------------------- suppression
class Suppressor:
    """Lets the first of a run of identical alerts through, then holds repeats for ``interval``.

    State lives in a small SQLite file, so separate processes (Airflow tasks, scripts) share it;
    the check and the update happen in one ``BEGIN IMMEDIATE`` transaction, so two processes
    raising the same alert at once send it once. ``clock`` (seconds since the epoch) is
    injectable for tests.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        interval: timedelta | float = timedelta(minutes=60),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if path else DEFAULT_STATE_PATH
        if not isinstance(interval, timedelta):
            interval = timedelta(minutes=interval)
        self.interval = interval
        self.clock = clock

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute(
            "create table if not exists alert_state ("
            " key text primary key,"
            " last_sent_at real not null,"
            " suppressed integer not null default 0)"
        )
        return conn

    def admit(self, alert: Alert | str) -> int | None:
        """``None`` if this alert is a repeat to hold back; otherwise the number of repeats
        held back since it was last sent (the caller may mention them), and record the send."""
        key = alert if isinstance(alert, str) else alert.key
        now = self.clock()
        conn = self._connect()
        try:
            conn.execute("begin immediate")
            row = conn.execute(
                "select last_sent_at, suppressed from alert_state where key = ?", (key,)
            ).fetchone()
            if row is not None and now - row[0] < self.interval.total_seconds():
                conn.execute(
                    "update alert_state set suppressed = suppressed + 1 where key = ?", (key,)
                )
                conn.execute("commit")
                return None
            conn.execute(
                "insert into alert_state (key, last_sent_at, suppressed) values (?, ?, 0) "
                "on conflict (key) do update set last_sent_at = excluded.last_sent_at, "
                "suppressed = 0",
                (key, now),
            )
            conn.execute("commit")
            return 0 if row is None else int(row[1])
        except BaseException:
            if conn.in_transaction:
                conn.execute("rollback")
            raise
        finally:
            conn.close()

    def should_send(self, alert: Alert | str) -> bool:
        """True (and recorded as sent) unless the same alert went out within the interval."""
        return self.admit(alert) is not None

    def forget(self, alert: Alert | str) -> None:
        """Drop the record of the last send (used when every channel failed to deliver)."""
        key = alert if isinstance(alert, str) else alert.key
        conn = self._connect()
        try:
            conn.execute("delete from alert_state where key = ?", (key,))
        finally:
            conn.close()
