"""Emailing the weekly review: a plain-text message with the KPI lines and the workbook attached,
sent with the alert transports of :mod:`quality.notify` (no SMTP code of its own).

- :func:`send_review` (``python -m bi report --email``): the ``SMTP_*`` settings
  (:class:`quality.alerts.AlertSettings`: ``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USER``,
  ``SMTP_PASSWORD``, ``SMTP_FROM``, ``SMTP_TO``, ``SMTP_STARTTLS``, ``SMTP_SSL``).
- :func:`deliver_review` (the ``excel_report`` Airflow task): the ``smtp_alerts`` connection
  with the SMTP provider's hook; without that connection, the ``SMTP_*`` settings; with
  neither, nothing is sent (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from .review import KPIS, Review, change

log = logging.getLogger(__name__)

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def format_value(kind: str, value: Any) -> str:
    """A KPI as the email shows it: $1,234.56, 1,234, 12.345 kg, 83.49%."""
    if value is None:
        return "n/a"
    if kind == "money":
        return f"${value:,.2f}"
    if kind == "count":
        return f"{value:,}"
    if kind == "kg":
        return f"{value:,.3f} kg"
    return f"{Decimal(value) * 100:.2f}%"


def format_change(kind: str, diff: Any, relative: Any) -> str:
    if diff is None:
        return "no comparison"
    if kind == "rate":
        return f"{Decimal(diff) * 100:+.2f} pp"
    sign = "+" if diff >= 0 else "-"
    amount = format_value(kind, abs(diff))
    share = f", {Decimal(relative) * 100:+.1f}%" if relative is not None else ""
    return f"{sign}{amount}{share}"


def kpi_lines(review: Review) -> list[str]:
    """One line per KPI: this week, the week before and the change."""
    previous = review.previous.week
    width = max(len(k.label) for k in KPIS)
    lines = []
    for item in KPIS:
        current, before = review.week.value(item), review.previous.value(item)
        diff, relative = change(current, before)
        lines.append(
            f"{item.label:<{width}}  {format_value(item.kind, current):>16}   "
            f"({previous}: {format_value(item.kind, before)}; "
            f"{format_change(item.kind, diff, relative)})"
        )
    return lines


def review_text(review: Review, attachment: str) -> str:
    week = review.week.week
    notes = [f"Note: {n}" for n in review.notes]
    return "\n".join(
        [
            f"Weekly business review {week} ({week.start} to {week.end})",
            "",
            *kpi_lines(review),
            "",
            *notes,
            *([""] if notes else []),
            "Rates are the week's numerator over its denominator; a rate's change is in "
            "percentage points (pp).",
            f"The workbook is attached ({attachment}): the KPIs with charts, and a sheet of "
            "daily figures per subject.",
            "",
        ]
    )


def review_message(
    review: Review, workbook: Path, sender: str, recipients: Iterable[str]
) -> EmailMessage:
    """Plain text with the KPI lines, the workbook attached."""
    message = EmailMessage()
    message["Subject"] = f"Weekly business review {review.week.week}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(review_text(review, workbook.name))
    message.add_attachment(
        workbook.read_bytes(), maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=workbook.name
    )
    return message


def send_review(
    review: Review, workbook: Path, to: Iterable[str] | str | None = None, settings=None
) -> tuple[str, ...]:
    """Email the workbook through the ``SMTP_*`` settings; returns the recipients. Not
    configured, or refused by the server: an error naming what is missing or the server."""
    from quality.alerts import AlertSettings, _addresses
    from quality.notify import send_message

    settings = settings or AlertSettings.from_env()
    recipients = _addresses(to) or settings.smtp_to
    if not settings.smtp_host or not recipients:
        raise ValueError(
            "emailing the review needs SMTP_HOST and a recipient (SMTP_TO or --to): "
            "the workbook was written, not sent"
        )
    message = review_message(review, workbook, settings.smtp_from, recipients)
    return send_message(settings, message, recipients)


def deliver_review(
    review: Review, workbook: Path, smtp_conn_id: str | None = None, to=None
) -> tuple[str, ...]:
    """Inside Airflow: email the workbook through the ``smtp_alerts`` connection, else the
    ``SMTP_*`` settings; returns the recipients (none when neither is configured)."""
    from quality.alerts import AlertSettings
    from quality.notify import SMTP_CONN_ID, send_message_via_connection, smtp_connection

    conn_id = smtp_conn_id or SMTP_CONN_ID
    found = smtp_connection(conn_id, to)
    if found is not None:
        conn, recipients, sender = found
        if not recipients:
            raise ValueError(
                f"the {conn_id!r} connection has no recipients: set its 'to' extra or SMTP_TO"
            )
        message = review_message(review, workbook, sender, recipients)
        send_message_via_connection(message, recipients, sender, conn_id, conn=conn)
        log.info("review %s emailed to %s (connection %r)", review.week.week, recipients, conn_id)
        return tuple(recipients)
    settings = AlertSettings.from_env()
    if settings.email_configured:
        recipients = send_review(review, workbook, to, settings)
        log.info("review %s emailed to %s (SMTP_HOST)", review.week.week, recipients)
        return tuple(recipients)
    log.warning(
        "review %s not emailed: no %r connection and no SMTP_HOST/SMTP_TO",
        review.week.week,
        conn_id,
    )
    return ()
