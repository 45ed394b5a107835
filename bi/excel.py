"""``python -m bi report --week YYYY-Www``: the weekly business review as an ``.xlsx`` workbook.

The workbook (written with xlsxwriter) holds:

- **KPIs**: net revenue, orders, units, on-time delivery rate, defect rate, waste and return rate
  for the week, the week before and the change (a rate's change is in percentage points), each
  with its definition; notes on partial weeks; four native Excel charts over the data sheets
  (net revenue, on-time rate, defects, waste by day).
- **Sales**, **Delivery**, **Quality**, **Sustainability**: one row per day of the week (the days
  the warehouse holds) and a week row whose sums and ratios are Excel formulas.

Figures come from :mod:`bi.review` (the marts and metrics tables of ``WAREHOUSE_TARGET``). The
workbook goes to ``--out``, else ``$BI_REPORTS_DIR/weekly_review_<week>.xlsx`` (default
``<PLATFORM_LOCAL_DIR or .local>/bi/reports``); ``--email`` sends it through the alert SMTP
settings (:mod:`bi.mail`). Exit codes: 0 written, 1 no data for the week or a failure, 2 a
malformed ``--week``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from platform_core.settings import current

from .review import (
    KPIS,
    SUBJECTS,
    NoData,
    Review,
    Subject,
    Week,
    change,
    ratio_or_total,
    read_review,
)

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
KPI_SHEET = "KPIs"

#: Excel number formats per kind of figure (money is USD, as in the marts).
FORMATS = {
    "money": '"$"#,##0.00',
    "count": "#,##0",
    "kg": "#,##0.000",
    "rate": "0.00%",
    "kg_per_unit": "0.000000",
}
CHANGE_FORMATS = {
    "money": '+"$"#,##0.00;-"$"#,##0.00;"$"0.00',
    "count": "+#,##0;-#,##0;0",
    "kg": "+#,##0.000;-#,##0.000;0.000",
    "rate": "+0.00%;-0.00%;0.00%",
}
#: The charts of the KPI sheet: (title, subject, column key, chart type, axis format).
CHARTS = (
    ("Net revenue by day", "sales", "net_revenue", "column", '"$"#,##0'),
    ("On-time delivery rate by day", "delivery", "on_time_rate", "line", "0%"),
    ("Defects by day", "quality", "defects", "column", "#,##0"),
    ("Waste by day (kg)", "sustainability", "waste_kg", "column", "#,##0"),
)


def reports_dir() -> Path:
    """``$BI_REPORTS_DIR``, else ``<PLATFORM_LOCAL_DIR or .local>/bi/reports``."""
    return current().get("BI_REPORTS_DIR") or current().local_dir / "bi" / "reports"


def default_path(week: Week) -> Path:
    return reports_dir() / f"weekly_review_{week}.xlsx"


# --------------------------------------------------------------------------- the workbook
def _number(value: Any) -> float | int | None:
    """A figure as Excel stores it (a double), None for a ratio without a denominator."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def _excel_date(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _col(index: int) -> str:
    from xlsxwriter.utility import xl_col_to_name

    return xl_col_to_name(index)


def _write_subject(workbook, formats, subject: Subject, review: Review) -> tuple[str, dict]:
    """One data sheet: a row per day and the week row; returns the sheet name and column
    positions (key -> index) for the charts."""
    sheet = workbook.add_worksheet(subject.sheet)
    figures = review.week
    sheet.write_row(0, 0, ["Day", *(c.header for c in subject.columns)], formats["header"])
    sheet.set_row(0, 32)
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, len(subject.columns), 15)
    sheet.freeze_panes(1, 1)
    position = {c.key: i + 1 for i, c in enumerate(subject.columns)}
    first, last = 1, len(figures.days)  # data rows (0-based)
    for row, day in enumerate(figures.days, start=1):
        values = figures.daily[day]
        sheet.write_datetime(row, 0, _excel_date(day), formats["day"])
        for column in subject.columns:
            col = position[column.key]
            if column.ratio:
                value = _number(ratio_or_total(values, *column.ratio))
            else:
                value = _number(values[column.key])
            if value is None:
                sheet.write_blank(row, col, None, formats[column.kind])
            else:
                sheet.write_number(row, col, value, formats[column.kind])
    # the week: sums of the days and each ratio from the summed parts (never an average)
    total = last + 1
    sheet.write_string(total, 0, f"Week {figures.week}", formats["total_label"])
    for column in subject.columns:
        col = position[column.key]
        fmt = formats[f"total_{column.kind}"]
        if column.ratio:
            top, bottom = (f"{_col(position[k])}{total + 1}" for k in column.ratio)
            value = _number(ratio_or_total(figures.totals, *column.ratio))
            sheet.write_formula(
                total,
                col,
                f'=IF({bottom}=0,"",{top}/{bottom})',
                fmt,
                "" if value is None else value,
            )
        else:
            letter = _col(col)
            span = f"{letter}{first + 1}:{letter}{last + 1}" if last >= first else None
            sheet.write_formula(
                total,
                col,
                f"=SUM({span})" if span else "=0",
                fmt,
                _number(figures.totals[column.key]),
            )
    return subject.sheet, position


def _add_charts(workbook, sheet, review: Review, positions: dict, anchor_row: int) -> int:
    rows = len(review.week.days)
    for i, (title, subject, key, kind, axis_format) in enumerate(CHARTS):
        name, position = positions[subject]
        col = position[key]
        chart = workbook.add_chart({"type": kind})
        series = {
            "name": title,
            "categories": [name, 1, 0, rows, 0],
            "values": [name, 1, col, rows, col],
        }
        if kind == "line":
            series["marker"] = {"type": "circle"}
        chart.add_series(series)
        if key == "defects":  # and the rate on a second axis: defects alone hide the sample size
            rate = workbook.add_chart({"type": "line"})
            rate_col = position["defect_rate"]
            rate.add_series(
                {
                    "name": "Defect rate",
                    "categories": [name, 1, 0, rows, 0],
                    "values": [name, 1, rate_col, rows, rate_col],
                    "y2_axis": True,
                    "marker": {"type": "circle"},
                }
            )
            chart.combine(rate)
            rate.set_y2_axis({"num_format": "0.0%", "name": "Defect rate"})
        chart.set_title({"name": f"{title}, {review.week.week}"})
        chart.set_x_axis({"date_axis": True, "num_format": "ddd d mmm", "major_unit": 1})
        chart.set_y_axis({"num_format": axis_format, "min": 0})
        chart.set_legend({"position": "bottom"} if key == "defects" else {"none": True})
        chart.set_size({"width": 520, "height": 300})
        sheet.insert_chart(anchor_row + (i // 2) * 16, (i % 2) * 4, chart, {"x_offset": 4})
    return len(CHARTS)


def _write_kpis(workbook, formats, review: Review) -> int:
    """The KPI sheet's table and notes; returns the first row free for the charts."""
    sheet = workbook.get_worksheet_by_name(KPI_SHEET)
    week, previous = review.week.week, review.previous.week
    sheet.set_column(0, 0, 26)
    sheet.set_column(1, 4, 15)
    sheet.set_column(5, 5, 90)
    sheet.write_string(0, 0, f"Weekly business review {week}", formats["title"])
    sheet.write_string(
        1,
        0,
        f"{week.start:%A %Y-%m-%d} to {week.end:%A %Y-%m-%d}, compared with {previous} "
        f"({previous.start} to {previous.end}). Source: the {review.target} warehouse's marts "
        f"and metrics tables, which hold {review.coverage[0]} to {review.coverage[1]}.",
        formats["subtitle"],
    )
    sheet.write_row(
        3,
        0,
        ["KPI", str(week), str(previous), "Change", "Change %", "Definition"],
        formats["header"],
    )
    for row, item in enumerate(KPIS, start=4):
        current = review.week.value(item)
        before = review.previous.value(item)
        diff, relative = change(current, before)
        sheet.write_string(row, 0, item.label, formats["label"])
        for col, value, fmt in (
            (1, current, formats[item.kind]),
            (2, before, formats[item.kind]),
            (3, diff, formats[f"change_{item.kind}"]),
            (4, None if item.kind == "rate" else relative, formats["change_pct"]),
        ):
            if value is None:
                sheet.write_blank(row, col, None, fmt)
            else:
                sheet.write_number(row, col, _number(value), fmt)
        sheet.write_string(row, 5, item.definition, formats["wrap"])
    row = 4 + len(KPIS) + 1
    sheet.write_string(row, 0, "Notes", formats["bold"])
    notes = [
        *review.notes,
        "Rates are the week's numerator over the week's denominator (summed over the days), "
        "never an average of daily rates. The change of a rate is in percentage points.",
        "Daily rows and their week totals: sheets "
        + ", ".join(s.sheet for s in SUBJECTS)
        + ". Money in USD.",
    ]
    for i, note in enumerate(notes, start=row + 1):
        sheet.write_string(i, 0, note, formats["note"])
    sheet.freeze_panes(4, 1)
    return row + len(notes) + 2


def _formats(workbook) -> dict:
    add = workbook.add_format
    header = {"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "text_wrap": True}
    formats = {
        "title": add({"bold": True, "font_size": 16}),
        "subtitle": add({"italic": True, "font_color": "#595959"}),
        "header": add({**header, "valign": "vcenter"}),
        "label": add({"bold": True}),
        "bold": add({"bold": True}),
        "note": add({"font_color": "#595959"}),
        "wrap": add({"text_wrap": False, "font_color": "#404040"}),
        "day": add({"num_format": "ddd yyyy-mm-dd", "align": "left"}),
        "total_label": add({"bold": True, "top": 1}),
        "change_pct": add({"num_format": "+0.0%;-0.0%;0.0%"}),
    }
    for kind, number_format in FORMATS.items():
        formats[kind] = add({"num_format": number_format})
        formats[f"total_{kind}"] = add({"num_format": number_format, "bold": True, "top": 1})
    for kind, number_format in CHANGE_FORMATS.items():
        formats[f"change_{kind}"] = add({"num_format": number_format})
    return formats


def write_workbook(review: Review, out: Path) -> dict:
    """Write the review to ``out`` (through a temporary file: a failed run leaves no half
    workbook); returns what was written."""
    import xlsxwriter

    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        workbook = xlsxwriter.Workbook(temporary, {"remove_timezone": True})
        workbook.set_properties(
            {
                "title": f"Weekly business review {review.week.week}",
                "subject": "KPIs with week-over-week change, by day",
                "company": "analytics-platform",
            }
        )
        formats = _formats(workbook)
        workbook.add_worksheet(KPI_SHEET)  # first: the sheet a reader opens on
        positions = {s.name: _write_subject(workbook, formats, s, review) for s in SUBJECTS}
        chart_row = _write_kpis(workbook, formats, review)
        charts = _add_charts(
            workbook, workbook.get_worksheet_by_name(KPI_SHEET), review, positions, chart_row
        )
        workbook.close()
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return {
        "path": str(out),
        "week": str(review.week.week),
        "sheets": [KPI_SHEET, *(s.sheet for s in SUBJECTS)],
        "charts": charts,
        "days": len(review.week.days),
    }


def weekly_review(week: Week, out: Path | None = None) -> tuple[Review, dict]:
    """Read the week's figures and write the workbook (``out`` or :func:`default_path`)."""
    review = read_review(week)
    return review, write_workbook(review, Path(out) if out else default_path(week))


# --------------------------------------------------------------------------- Airflow task body
def report_week(logical_date: datetime | date) -> Week:
    """The ISO week a Monday run reports on: the last complete week before ``logical_date``."""
    day = logical_date.date() if isinstance(logical_date, datetime) else logical_date
    return Week.of(day).previous()


def excel_report_task(logical_date: datetime | date) -> dict:
    """The ``excel_report`` task of the ``bi_reports`` DAG: the previous ISO week's workbook,
    written to :func:`default_path` and emailed through the ``smtp_alerts`` connection (else the
    ``SMTP_*`` settings; neither set: not emailed, logged). No data for the week, or a mail
    server that refuses it, fails the task."""
    from .mail import deliver_review

    week = report_week(logical_date)
    review, written = weekly_review(week)
    log.info("wrote %s (%s, %d days)", written["path"], week, written["days"])
    written["emailed_to"] = list(deliver_review(review, Path(written["path"])))
    return written


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--week", required=True, help="ISO week to report on, YYYY-Www (2026-W02)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="workbook path (default: $BI_REPORTS_DIR or .local/bi/reports/"
        "weekly_review_<week>.xlsx)",
    )
    parser.add_argument(
        "--email",
        action="store_true",
        help="email the workbook through the alert SMTP settings (SMTP_HOST, SMTP_TO, ...)",
    )
    parser.add_argument("--to", default=None, help="recipients, comma-separated (default: SMTP_TO)")


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    try:
        week = Week.parse(args.week)
    except ValueError as exc:
        print(f"bi report: {exc}", file=sys.stderr)
        return 2
    try:
        review, written = weekly_review(week, args.out)
    except NoData as exc:
        print(f"bi report: {exc}", file=sys.stderr)
        return 1
    sent = ""
    if args.email:
        from .mail import send_review

        recipients = send_review(review, Path(written["path"]), to=args.to)
        sent = f", emailed to {', '.join(recipients)}"
    net = review.week.totals["net_revenue"]
    print(
        f"wrote {written['path']}: {week} ({written['days']} days), {len(KPIS)} KPIs, "
        f"{len(written['sheets']) - 1} data sheets, {written['charts']} charts; "
        f"net revenue ${net:,.2f}{sent} ({time.perf_counter() - began:.1f}s)"
    )
    return 0
