"""Sending alerts: directly (a Slack webhook URL, an SMTP server from the environment) or through
Airflow connections, plus the task-failure callback every DAG task uses.

- :func:`send_alert` reads :class:`~quality.alerts.AlertSettings` from the environment, skips a
  channel that is not configured (and logs it; with none configured, says so once per process)
  and holds back repeats (:class:`Suppressor`).
- :func:`send_alert_via_connections` does the same inside Airflow with the provider hooks and
  the connections ``slack_alerts`` (type ``slackwebhook``) and ``smtp_alerts`` (type ``smtp``).
  A ``slackwebhook`` connection holds the whole webhook URL in its password, or the endpoint in
  its host (``https://hooks.slack.com/services``) and the token path in its password. The
  ``smtp`` connection's extras may carry ``from_email`` and ``to`` (comma-separated); ``to``
  falls back to ``SMTP_TO``. Both ways send the same multipart email (plain text + HTML).
- :func:`send_message` and :func:`send_message_via_connection` are the two transports on their
  own: they send any ready message (``bi/mail.py`` sends the weekly Excel review with them).
- :func:`task_failure_callback` is an ``on_failure_callback``: it never raises, so a broken
  alert channel cannot hide the task's own failure. Its link is the task's log page under
  ``AIRFLOW_BASE_URL`` (:func:`quality.settings.airflow_base_url`); no UI configured, no link.

Airflow is imported only inside the functions that need it.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote, urlsplit

from quality.alerts import (
    Alert,
    AlertSettings,
    Suppressor,
    _addresses,
    to_email,
    to_slack,
)

log = logging.getLogger(__name__)

SLACK_CONN_ID = "slack_alerts"
SMTP_CONN_ID = "smtp_alerts"


class AlertDeliveryError(RuntimeError):
    """A configured channel could not deliver an alert (the message names channel and host)."""


# --------------------------------------------------------------------------- transports
def send_webhook(url: str, payload: Mapping[str, Any], timeout: float = 10) -> None:
    """POST ``payload`` as JSON. Errors name the host and HTTP status, never the full URL (its
    path is the webhook's secret)."""
    host = urlsplit(url).netloc or url
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as err:
        body = err.read(300).decode(errors="replace").strip()
        raise AlertDeliveryError(
            f"webhook at {host} answered HTTP {err.code} {err.reason}"
            + (f": {body}" if body else "")
        ) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise AlertDeliveryError(f"could not reach the webhook at {host}: {reason}") from None


def email_message(
    subject: str, html: str, text: str, sender: str, recipients: Iterable[str]
) -> EmailMessage:
    """A ``multipart/alternative`` message: the plain-text part first, then the HTML."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_email(
    settings: AlertSettings,
    subject: str,
    html: str,
    text: str,
    to: Iterable[str] | str | None = None,
) -> None:
    """Send a multipart (plain text + HTML) email through ``settings``' SMTP server."""
    recipients = _addresses(to) or settings.smtp_to
    if not settings.smtp_host or not recipients:
        raise ValueError("email needs SMTP_HOST and at least one recipient (SMTP_TO)")
    message = email_message(subject, html, text, settings.smtp_from, recipients)
    send_message(settings, message, recipients)


def send_message(
    settings: AlertSettings, message: EmailMessage, to: Iterable[str] | str | None = None
) -> tuple[str, ...]:
    """Send a ready ``message`` (any parts, attachments included) through ``settings``' SMTP
    server, to ``to``, else the message's ``To``, else ``SMTP_TO``; return the recipients."""
    recipients = _addresses(to) or _addresses(message.get("To")) or settings.smtp_to
    if not settings.smtp_host or not recipients:
        raise ValueError("email needs SMTP_HOST and at least one recipient (SMTP_TO)")
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        if settings.smtp_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
        with client:
            if settings.smtp_starttls and not settings.smtp_ssl:
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            client.send_message(message, to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError) as err:
        raise AlertDeliveryError(f"SMTP server {where} did not take the email: {err}") from None
    return recipients


def send_message_via_connection(
    message: EmailMessage,
    recipients: Iterable[str],
    from_email: str,
    smtp_conn_id: str = SMTP_CONN_ID,
    conn=None,
) -> None:
    """Send a ready ``message`` through the Airflow SMTP connection ``smtp_conn_id`` with the
    provider's hook (its host, port, login and TLS settings)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    try:
        # the hook's send_email_smtp builds its own message (an HTML part only): send ours
        # through the client it connected and logged in with
        with SmtpHook(smtp_conn_id=smtp_conn_id) as hook:
            hook._smtp_client.send_message(message, from_addr=from_email, to_addrs=list(recipients))
    except Exception as err:
        conn = conn if conn is not None else _airflow_connection(smtp_conn_id)
        where = f"{conn.host}:{conn.port}" if conn is not None else "unknown host"
        raise AlertDeliveryError(
            f"SMTP server {where} (connection {smtp_conn_id!r}): {err}"
        ) from None


def smtp_connection(
    smtp_conn_id: str = SMTP_CONN_ID,
    to: Iterable[str] | str | None = None,
    settings: AlertSettings | None = None,
):
    """``(connection, recipients, from_email)`` of the Airflow SMTP connection, or None when
    the connection is not defined (logged). Recipients: ``to``, else the connection's ``to``
    extra, else ``SMTP_TO`` (may be empty); sender: its ``from_email`` extra, else
    ``SMTP_FROM``."""
    settings = settings or AlertSettings.from_env()
    conn = _airflow_connection(smtp_conn_id)
    if conn is None:
        return None
    extra = conn.extra_dejson or {}
    recipients = _addresses(to) or _addresses(extra.get("to")) or settings.smtp_to
    return conn, recipients, extra.get("from_email") or settings.smtp_from


# --------------------------------------------------------------------------- sending
_logged_once: set[str] = set()


def _log_once(message: str) -> None:
    """Log ``message`` at INFO the first time only in this process (not once per alert)."""
    if message not in _logged_once:
        _logged_once.add(message)
        log.info(message)


def _admit(alert: Alert, suppressor: Suppressor | None) -> Alert | None:
    """The alert to send (noting repeats held back), or None when it is a repeat to hold."""
    if suppressor is None:
        return alert
    held = suppressor.admit(alert)
    if held is None:
        log.info("alert suppressed (same alert sent within %s): %s", suppressor.interval, alert.key)
        return None
    if held:
        note = f"{held} since the last one (suppression window {suppressor.interval})"
        alert = replace(alert, details=(*alert.details, ("Repeats held back", note)))
    return alert


def _deliver(
    alert: Alert, attempts: list[tuple[str, Any]], suppressor: Suppressor | None, raise_errors: bool
) -> list[str]:
    sent: list[str] = []
    errors: list[str] = []
    for channel, send in attempts:
        try:
            send()
        except Exception as err:
            errors.append(f"{channel}: {err}")
            log.error("alert not delivered by %s: %s", channel, err)
        else:
            sent.append(channel)
            log.info("alert sent by %s: %s", channel, alert.key)
    if not sent and suppressor is not None:
        suppressor.forget(alert)  # nothing went out: let the next attempt through
    if errors and raise_errors:
        raise AlertDeliveryError(
            f"alert {alert.title!r} not delivered by {'; '.join(errors)}"
            f" (delivered by: {', '.join(sent) or 'none'})"
        )
    return sent


def send_alert(
    alert: Alert,
    settings: AlertSettings | None = None,
    suppressor: Suppressor | None = None,
    raise_errors: bool = True,
) -> list[str]:
    """Send ``alert`` to Slack and/or email as configured; return the channels that sent it.

    A channel that is not configured is skipped (logged). Repeats within the suppression window
    are held back (suppressor defaults to the one ``settings`` describe). If a configured channel
    fails, the others are still tried, then :class:`AlertDeliveryError` is raised (unless
    ``raise_errors`` is false).
    """
    settings = settings or AlertSettings.from_env()
    if not settings.slack_configured and not settings.email_configured:
        _log_once(
            "no alert channel configured (set SLACK_WEBHOOK_URL, or SMTP_HOST and SMTP_TO): "
            "alerts are not sent"
        )
        log.debug("alert not sent (no channel): %s", alert.key)
        return []
    attempts: list[tuple[str, Any]] = []
    if settings.slack_configured:

        def slack() -> None:
            send_webhook(settings.slack_webhook_url, to_slack(admitted), timeout=settings.timeout)

        attempts.append(("slack", slack))
    else:
        log.info("Slack not configured (SLACK_WEBHOOK_URL unset): skipped")
    if settings.email_configured:

        def email() -> None:
            send_email(settings, *to_email(admitted))

        attempts.append(("email", email))
    else:
        log.info("email not configured (SMTP_HOST or SMTP_TO unset): skipped")
    suppressor = suppressor if suppressor is not None else settings.suppressor()
    admitted = _admit(alert, suppressor)
    if admitted is None:
        return []
    return _deliver(admitted, attempts, suppressor, raise_errors)


def _airflow_connection(conn_id: str):
    """The Airflow connection, or None (logged) when it is not defined."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as err:
        log.warning("Airflow connection %r not available (%s): channel skipped", conn_id, err)
        return None


def _slack_host(conn) -> str:
    """The host a ``slackwebhook`` connection posts to (as the Slack hook builds its URL)."""
    token = (conn.password or "").strip()
    if "://" in token:
        return urlsplit(token).netloc
    host = conn.host or "hooks.slack.com"
    return urlsplit(host).netloc if "://" in host else host.split("/")[0]


def send_alert_via_connections(
    alert: Alert,
    slack_conn_id: str = SLACK_CONN_ID,
    smtp_conn_id: str = SMTP_CONN_ID,
    to: Iterable[str] | str | None = None,
    suppressor: Suppressor | None = None,
    settings: AlertSettings | None = None,
    raise_errors: bool = True,
) -> list[str]:
    """Send ``alert`` through Airflow connections with the Slack and SMTP provider hooks.

    A connection that is not defined is logged and skipped. Recipients: ``to``, else the SMTP
    connection's ``to`` extra, else ``SMTP_TO``. Suppression as in :func:`send_alert`.
    """
    settings = settings or AlertSettings.from_env()
    attempts: list[tuple[str, Any]] = []

    slack_conn = _airflow_connection(slack_conn_id)
    if slack_conn is not None:

        def slack() -> None:
            from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

            hook = SlackWebhookHook(
                slack_webhook_conn_id=slack_conn_id, timeout=int(settings.timeout)
            )
            try:
                hook.send_dict(to_slack(admitted))
            except Exception as err:  # the hook's message has the status, not the host
                raise AlertDeliveryError(
                    f"Slack webhook at {_slack_host(slack_conn)} (connection {slack_conn_id!r}):"
                    f" {err}"
                ) from None

        attempts.append(("slack", slack))

    smtp = smtp_connection(smtp_conn_id, to, settings)
    if smtp is not None:
        smtp_conn, recipients, from_email = smtp
        if not recipients:
            log.warning(
                "no email recipients (pass to=, set the %r connection's 'to' extra or SMTP_TO):"
                " email skipped",
                smtp_conn_id,
            )
        else:

            def email() -> None:
                message = email_message(*to_email(admitted), from_email, recipients)
                send_message_via_connection(
                    message, recipients, from_email, smtp_conn_id, conn=smtp_conn
                )

            attempts.append(("email", email))

    if not attempts:
        _log_once(
            f"no alert connection usable ({slack_conn_id!r}, {smtp_conn_id!r}): alerts are not sent"
        )
        log.debug("alert not sent (no connection): %s", alert.key)
        return []
    suppressor = suppressor if suppressor is not None else settings.suppressor()
    admitted = _admit(alert, suppressor)
    if admitted is None:
        return []
    return _deliver(admitted, attempts, suppressor, raise_errors)


# --------------------------------------------------------------------------- Airflow callbacks
DBT_LINES = 4  # dbt's error lines shown in a failure alert


def _error_line(error: BaseException | str | None) -> str:
    """The exception's type and the last non-empty line of its message; for a failed dbt
    invocation (an exception with dbt's error ``lines``), the command and dbt's first lines."""
    if error is None:
        return "no exception recorded (the task may have been killed or timed out)"
    own = getattr(error, "lines", None)
    if isinstance(error, BaseException) and isinstance(own, list) and own:
        head = str(error).splitlines()[0].rstrip(":")
        shown = [str(line).strip() for line in own if str(line).strip()][:DBT_LINES]
        more = (
            f" | ... {len(own) - len(shown)} more in the task log" if len(own) > len(shown) else ""
        )
        line = f"{type(error).__name__}: {head}: {' | '.join(shown)}{more}"
    elif isinstance(error, BaseException):
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        name = type(error).__name__
        line = f"{name}: {lines[-1]}" if lines else name
    else:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        line = lines[-1] if lines else "unknown error"
    return line if len(line) <= 900 else line[:899] + "…"


def _task_log_url(dag_id, task_id, run_id, map_index, try_number) -> str | None:
    """The task's log page in the Airflow UI at :func:`quality.settings.airflow_base_url` (the
    address format of Airflow 3's ``log_url``); None when no Airflow UI is configured."""
    from .settings import airflow_base_url

    base = airflow_base_url()
    if not base or not run_id:
        return None
    mapped = f"/mapped/{map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
    tried = f"?try_number={try_number}" if isinstance(try_number, int) and try_number > 0 else ""
    return f"{base}/dags/{dag_id}/runs/{quote(str(run_id))}/tasks/{task_id}{mapped}{tried}"


def failure_alert(context: Mapping[str, Any]) -> Alert:
    """The alert for a failed Airflow task, from the task's context (Airflow 3)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    where = f"dag {dag_id} / task {task_id}" + (
        f" [{map_index}]" if isinstance(map_index, int) and map_index >= 0 else ""
    )
    dag_run = context.get("dag_run")
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    try_number = getattr(ti, "try_number", None)
    max_tries = getattr(ti, "max_tries", None)
    tries = (
        f"{try_number} of {max_tries + 1}"
        if isinstance(try_number, int) and isinstance(max_tries, int)
        else str(try_number)
    )
    link = _task_log_url(
        dag_id, task_id, context.get("run_id") or getattr(ti, "run_id", None), map_index, try_number
    )
    details: list[tuple[str, Any]] = [("DAG", dag_id), ("Task", task_id)]
    if logical_date is not None:
        details.append(("Logical date", logical_date))
    else:
        details.append(("Run after", getattr(dag_run, "run_after", None) or "unknown"))
    details += [
        ("Try", tries),
        ("Run", context.get("run_id") or getattr(ti, "run_id", "")),
        ("Owner", getattr(getattr(ti, "task", None), "owner", None) or "unknown"),
        ("Error", _error_line(context.get("exception"))),
    ]
    since = getattr(ti, "end_date", None) or getattr(ti, "start_date", None)
    return Alert(
        severity="error",
        source="airflow",
        title=f"Task {task_id} failed in {dag_id}",
        where=where,
        since=since if isinstance(since, datetime) else None,
        link=link,
        details=tuple(details),
    )


def task_failure_callback(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` for tasks: alert on Slack and by email through the connections
    ``slack_alerts`` and ``smtp_alerts``. Never raises: a failed alert is logged instead."""
    _alert_failure(context, SLACK_CONN_ID, SMTP_CONN_ID, None)


def failure_callback(
    slack_conn_id: str = SLACK_CONN_ID,
    smtp_conn_id: str = SMTP_CONN_ID,
    to: Iterable[str] | str | None = None,
) -> Callable[[Mapping[str, Any]], None]:
    """A :func:`task_failure_callback` with other connections or recipients (per DAG/team)."""

    def callback(context: Mapping[str, Any]) -> None:
        _alert_failure(context, slack_conn_id, smtp_conn_id, to)

    return callback


def _alert_failure(context, slack_conn_id: str, smtp_conn_id: str, to) -> None:
    try:
        alert = failure_alert(context)
        sent = send_alert_via_connections(
            alert, slack_conn_id, smtp_conn_id, to=to, raise_errors=False
        )
        log.info("failure alert for %s sent by: %s", alert.where, ", ".join(sent) or "nothing")
    except Exception:
        log.exception("could not send the task-failure alert (the task's own failure stands)")


def pipeline_summary_alert(
    title: str,
    stats: Mapping[str, Any],
    where: str = "pipeline",
    link: str | None = None,
    since: datetime | None = None,
) -> Alert:
    """An ``info`` alert summing up a successful run: ``stats`` become labelled details
    (``rows_loaded`` reads "Rows loaded"; numbers get thousands separators)."""
    details = tuple((_label(name), value) for name, value in stats.items())
    return Alert(
        severity="info",
        source="pipeline",
        title=title,
        where=where,
        since=since,
        link=link,
        details=details,
    )


def _label(name: str) -> str:
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


__all__ = [
    "AlertDeliveryError",
    "failure_alert",
    "failure_callback",
    "pipeline_summary_alert",
    "send_alert",
    "send_alert_via_connections",
    "send_email",
    "send_message",
    "send_message_via_connection",
    "send_webhook",
    "smtp_connection",
    "task_failure_callback",
]
