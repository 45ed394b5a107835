"""The weekly business review workbook (``python -m bi report``) on the sample warehouse: the
sheets and native charts are there, every KPI equals the marts' facts recomputed by SQL here (to
the cent), the week-over-week change against the partial first week says so, the email arrives
at a local SMTP server with the workbook attached, and the ``bi_reports`` DAG writes and emails
the previous ISO week when Airflow runs it.

The sample covers 2026-01-01 (a Thursday) to 2026-01-14: 2026-W02 is complete, 2026-W01 holds
4 of its days, 2026-W03 3.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from tests.airflow_support import ROOT, platform_env, run
from tests.bi_report_support import bi, query, sample_warehouse
from tests.ml_support import Mailbox

W01, W02, W03 = ((2026, 1), (2026, 2), (2026, 3))
LABELS = {
    "net_revenue": "Net revenue",
    "orders": "Orders",
    "units": "Units",
    "on_time_rate": "On-time delivery rate",
    "defect_rate": "Defect rate",
    "waste_kg": "Waste (kg)",
    "return_rate": "Return rate",
}
SHEETS = ["KPIs", "Sales", "Delivery", "Quality", "Sustainability"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def label(week: tuple[int, int]) -> str:
    return f"{week[0]}-W{week[1]:02d}"


def bounds(week: tuple[int, int]) -> list[date]:
    start = date.fromisocalendar(week[0], week[1], 1)
    return [start, start + timedelta(days=6)]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    work = tmp_path_factory.mktemp("bi_excel")
    with sample_warehouse(work, "duckdb") as env:
        yield env


@pytest.fixture(scope="module")
def w02(warehouse, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("w02") / "review.xlsx"
    done = bi(warehouse, "report", "--week", "2026-W02", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"wrote {out}: 2026-W02 (7 days)"), done.stdout
    return out


def expected_kpis(env: dict[str, str], week: tuple[int, int]) -> dict:
    """Each KPI straight from the marts' facts (not the metrics tables the report reads)."""
    days = bounds(week)

    def one(sql: str):
        return query(env, sql, days)[0]

    [net], [orders], [units] = (
        one(
            "select coalesce(sum(net_revenue), 0) from marts.fct_order_lines "
            "where ordered_date between ? and ?"
        ),
        one("select count(*) from marts.fct_orders where ordered_date between ? and ?"),
        one(
            "select coalesce(sum(quantity), 0) from marts.fct_order_lines "
            "where ordered_date between ? and ?"
        ),
    )
    on_time, delivered = one(
        "select sum(case when is_on_time then 1 else 0 end), "
        "sum(case when is_delivered then 1 else 0 end) "
        "from marts.fct_shipments where shipped_date between ? and ?"
    )
    defects, inspected = one(
        "select sum(defects_found), sum(sample_size) from marts.fct_quality_inspections "
        "where inspected_date between ? and ?"
    )
    [waste] = one(
        "select coalesce(sum(quantity_kg), 0) from marts.fct_waste_events "
        "where recorded_date between ? and ?"
    )
    [returned] = one(
        "select coalesce(sum(quantity), 0) from marts.fct_returns "
        "where requested_date between ? and ?"
    )
    return {
        "net_revenue": Decimal(net),
        "orders": int(orders),
        "units": int(units),
        "on_time_rate": int(on_time) / int(delivered),
        "defect_rate": int(defects) / int(inspected),
        "waste_kg": Decimal(waste),
        "return_rate": int(returned) / int(units),
    }


def kpi_rows(path: Path) -> dict[str, tuple]:
    sheet = openpyxl.load_workbook(path)["KPIs"]
    rows = {r[0]: r[1:5] for r in sheet.iter_rows(min_row=5, max_row=11, values_only=True)}
    return {key: rows[text] for key, text in LABELS.items()}


def sheet_text(path: Path, name: str) -> str:
    sheet = openpyxl.load_workbook(path)[name]
    return "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v)


def assert_same(key: str, cell, value) -> None:
    if isinstance(value, Decimal):  # money to the cent, kg to the gram
        places = Decimal("0.01") if key == "net_revenue" else Decimal("0.001")
        assert Decimal(repr(cell)).quantize(places) == value.quantize(places), key
    elif isinstance(value, int):
        assert cell == value, key
    else:
        assert cell == pytest.approx(value, rel=1e-12), key


# --------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize("week", ["2026-W2", "2026W02", "W02", "2026-W54", "last week"])
def test_malformed_week_is_one_line_and_exit_2(week, tmp_path):
    env = {**os.environ, "WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(tmp_path / "no.duckdb")}
    done = bi(env, "report", "--week", week)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"bi report: week {week!r} "), line
    assert "write YYYY-Www, e.g. 2026-W02" in line or "has weeks W01 to W53" in line, line
    assert not (tmp_path / "no.duckdb").exists()


def test_missing_warehouse_is_one_line_and_exit_1(tmp_path):
    env = {**os.environ, "WAREHOUSE_TARGET": "duckdb"}
    env["DUCKDB_PATH"] = str(tmp_path / "absent.duckdb")
    done = bi(env, "report", "--week", "2026-W02", "--out", str(tmp_path / "r.xlsx"))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "no DuckDB warehouse at" in line and "absent.duckdb" in line, line
    assert not (tmp_path / "absent.duckdb").exists(), "the report must not create a warehouse"
    assert not (tmp_path / "r.xlsx").exists()


# --------------------------------------------------------------------------- the workbook
@pytest.mark.slow
def test_workbook_has_the_kpi_sheet_then_one_data_sheet_per_subject(w02):
    assert openpyxl.load_workbook(w02).sheetnames == SHEETS


@pytest.mark.slow
def test_charts_are_native_excel_charts_on_the_kpi_sheet_over_the_data_sheets(w02):
    archive = zipfile.ZipFile(w02)
    names = archive.namelist()
    charts = sorted(n for n in names if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
    assert len(charts) == 4, names
    xml = {n: archive.read(n).decode() for n in charts}
    # the KPI sheet (the first) holds the drawing the charts hang from
    assert "drawing1.xml" in archive.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
    drawing_rels = archive.read("xl/drawings/_rels/drawing1.xml.rels").decode()
    assert all(Path(n).name in drawing_rels for n in charts)
    workbook = openpyxl.load_workbook(w02)

    def reference(sheet: str, header: str) -> str:
        [cell] = [c for c in workbook[sheet][1] if c.value == header]
        return f"{sheet}!${cell.column_letter}$2:${cell.column_letter}$8"

    for title, sheet, header, kind in (
        ("Net revenue by day", "Sales", "Net revenue", "c:barChart"),
        ("On-time delivery rate by day", "Delivery", "On-time rate", "c:lineChart"),
        ("Defects by day", "Quality", "Defects", "c:barChart"),
        ("Waste by day (kg)", "Sustainability", "Waste (kg)", "c:barChart"),
    ):
        [chart] = [x for x in xml.values() if f"{title}, 2026-W02" in x]
        assert f"<{kind}>" in chart, title
        assert reference(sheet, header) in chart, (title, reference(sheet, header))
        assert f"{sheet}!$A$2:$A$8" in chart  # the days on the category axis


@pytest.mark.slow
def test_kpis_equal_the_marts_recomputed_by_sql_for_the_week_and_the_week_before(warehouse, w02):
    rows = kpi_rows(w02)
    now, before = expected_kpis(warehouse, W02), expected_kpis(warehouse, W01)
    for key in LABELS:
        this_week, last_week, diff, relative = rows[key]
        assert_same(key, this_week, now[key])
        assert_same(key, last_week, before[key])
        assert_same(key, diff, now[key] - before[key])
        if key.endswith("_rate"):
            assert relative is None, key  # a rate's change is in points, not relative
        else:
            assert relative == pytest.approx(float((now[key] - before[key]) / before[key]))


@pytest.mark.slow
def test_kpi_sheet_formats_money_as_currency_and_rates_as_percent(w02):
    sheet = openpyxl.load_workbook(w02)["KPIs"]
    formats = {r[0].value: (r[1].number_format, r[3].number_format) for r in sheet.iter_rows(5, 11)}
    assert "$" in formats["Net revenue"][0] and "$" in formats["Net revenue"][1]
    for name in ("On-time delivery rate", "Defect rate", "Return rate"):
        assert formats[name][0].endswith("%"), formats[name]
    assert sheet["B4"].value == "2026-W02" and sheet["C4"].value == "2026-W01"


@pytest.mark.slow
def test_the_partial_week_before_is_named_on_the_kpi_sheet(w02):
    text = sheet_text(w02, "KPIs")
    assert (
        "2026-W01 is partial: the warehouse holds 4 of its 7 days (2026-01-01 to 2026-01-04)"
        in text
    )
    assert "2026-W02 is partial" not in text


@pytest.mark.slow
def test_a_partial_week_has_its_days_only_and_says_so(warehouse, tmp_path):
    out = tmp_path / "w03.xlsx"
    done = bi(warehouse, "report", "--week", "2026-W03", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "2026-W03 is partial: the warehouse holds 3 of its 7 days" in sheet_text(out, "KPIs")
    sales = openpyxl.load_workbook(out)["Sales"]
    days = [r[0] for r in sales.iter_rows(min_row=2, values_only=True)]
    assert [d.date() for d in days[:-1]] == [
        date(2026, 1, 12) + timedelta(days=i) for i in range(3)
    ]
    assert days[-1] == "Week 2026-W03"
    rows = kpi_rows(out)
    assert_same("net_revenue", rows["net_revenue"][0], expected_kpis(warehouse, W03)["net_revenue"])


@pytest.mark.slow
def test_data_sheets_hold_each_day_and_a_week_row_of_formulas(warehouse, w02):
    workbook = openpyxl.load_workbook(w02)
    cached = openpyxl.load_workbook(w02, data_only=True)
    sales = workbook["Sales"]
    header = [c.value for c in sales[1]]
    net = header.index("Net revenue")
    by_day = dict(
        query(
            warehouse,
            "select ordered_date, sum(net_revenue) from marts.fct_order_lines "
            "where ordered_date between ? and ? group by ordered_date",
            bounds(W02),
        )
    )
    rows = list(sales.iter_rows(min_row=2, max_row=8, values_only=True))
    assert [r[0].date() for r in rows] == sorted(by_day)
    for row in rows:
        assert Decimal(repr(row[net])).quantize(Decimal("0.01")) == by_day[row[0].date()]
    assert sales.cell(2, net + 1).number_format == '"$"#,##0.00'
    # the week row: Excel formulas, their cached values are the KPIs
    letter = sales.cell(1, net + 1).column_letter
    assert sales.cell(9, net + 1).value == f"=SUM({letter}2:{letter}8)"
    total = cached["Sales"].cell(9, net + 1).value
    assert_same("net_revenue", total, expected_kpis(warehouse, W02)["net_revenue"])
    delivery = workbook["Delivery"]
    header = [c.value for c in delivery[1]]
    rate = header.index("On-time rate")
    formula = delivery.cell(9, rate + 1).value
    assert formula.startswith("=IF(") and "/" in formula, formula  # summed parts, not AVERAGE
    assert cached["Delivery"].cell(9, rate + 1).value == pytest.approx(
        expected_kpis(warehouse, W02)["on_time_rate"], rel=1e-12
    )
    on_time = dict(
        (d, (int(a), int(b)))
        for d, a, b in query(
            warehouse,
            "select shipped_date, sum(case when is_on_time then 1 else 0 end), "
            "sum(case when is_delivered then 1 else 0 end) from marts.fct_shipments "
            "where shipped_date between ? and ? group by shipped_date",
            bounds(W02),
        )
    )
    for row in delivery.iter_rows(min_row=2, max_row=8, values_only=True):
        a, b = on_time[row[0].date()]
        assert row[rate] == pytest.approx(a / b, rel=1e-12)
        assert delivery.cell(2, rate + 1).number_format.endswith("%")


@pytest.mark.slow
def test_a_week_without_data_is_one_line_and_exit_1(warehouse, tmp_path):
    out = tmp_path / "none.xlsx"
    done = bi(warehouse, "report", "--week", "2026-W10", "--out", str(out))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line == (
        "bi report: no data for 2026-W10 (2026-03-02 to 2026-03-08): the warehouse holds "
        "2026-01-01 to 2026-01-14"
    )
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_default_path_is_under_the_reports_dir(warehouse):
    done = bi(warehouse, "report", "--week", "2026-W02")
    assert done.returncode == 0, done.stderr
    path = Path(warehouse["BI_REPORTS_DIR"]) / "weekly_review_2026-W02.xlsx"
    assert path.is_file() and f"wrote {path}" in done.stdout
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary left


# --------------------------------------------------------------------------- email
def _attachment(message) -> tuple[str, bytes]:
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == XLSX
    return part.get_filename(), part.get_content()


@pytest.mark.slow
def test_email_arrives_with_the_workbook_attached_and_the_kpis_in_the_body(warehouse, tmp_path):
    out = tmp_path / "weekly_review_2026-W02.xlsx"
    with Mailbox() as mailbox:
        env = {
            **warehouse,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mailbox.port),
            "SMTP_FROM": "bi@example.com",
            "SMTP_TO": "board@example.com, ops@example.com",
        }
        done = bi(env, "report", "--week", "2026-W02", "--out", str(out), "--email")
    assert done.returncode == 0, done.stderr
    assert "emailed to board@example.com, ops@example.com" in done.stdout
    [mail] = mailbox.messages
    message = mail["message"]
    assert sorted(mail["to"]) == ["board@example.com", "ops@example.com"]
    assert message["Subject"] == "Weekly business review 2026-W02"
    body = message.get_body(preferencelist=("plain",)).get_content()
    now, before = expected_kpis(warehouse, W02), expected_kpis(warehouse, W01)
    net_line = next(line for line in body.splitlines() if line.startswith("Net revenue"))
    assert f"${now['net_revenue']:,.2f}" in net_line
    assert f"2026-W01: ${before['net_revenue']:,.2f}" in net_line
    rate_line = next(line for line in body.splitlines() if line.startswith("On-time"))
    assert f"{now['on_time_rate'] * 100:.2f}%" in rate_line and " pp)" in rate_line
    assert "2026-W01 is partial" in body
    name, content = _attachment(message)
    assert name == out.name
    assert content == out.read_bytes()
    attached = openpyxl.load_workbook(io.BytesIO(content))
    assert attached.sheetnames == SHEETS
    assert_same("net_revenue", attached["KPIs"]["B5"].value, now["net_revenue"])


@pytest.mark.slow
def test_email_without_smtp_settings_fails_in_one_line_after_writing(warehouse, tmp_path):
    out = tmp_path / "r.xlsx"
    env = {k: v for k, v in warehouse.items() if not k.startswith("SMTP_")}
    done = bi(env, "report", "--week", "2026-W02", "--out", str(out), "--email")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "SMTP_HOST" in line and "written, not sent" in line, line
    assert out.is_file()


@pytest.mark.slow
def test_email_refused_by_the_server_is_one_line_naming_it(warehouse, tmp_path):
    from tests.airflow_support import free_port

    port = free_port()  # nothing listens there
    env = {
        **warehouse,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_TO": "a@example.com",
    }
    done = bi(env, "report", "--week", "2026-W02", "--out", str(tmp_path / "r.xlsx"), "--email")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert f"SMTP server 127.0.0.1:{port} did not take the email" in line, line


# --------------------------------------------------------------------------- the DAG
DAG_RUN = """
import json, sys
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])  # as Airflow's DAG processor does for the DAGs folder
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1] + "/bi_reports.py")
assert not bag.import_errors, bag.import_errors
dag = bag.dags["bi_reports"]
print("SCHEDULE=" + str(dag.schedule))
run = dag.test(logical_date=datetime(2026, 1, 12, 6, tzinfo=timezone.utc))
print("TASKS=" + json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
"""


@pytest.mark.slow
def test_bi_reports_dag_writes_and_emails_the_previous_iso_week(warehouse, tmp_path):
    work = Path(warehouse["DUCKDB_PATH"]).parent
    with Mailbox() as mailbox:
        # only the Airflow connection points at the mailbox: the email goes through it
        connection = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": mailbox.port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": "airflow@example.com",
                "to": "review@example.com",
            },
        }
        env = platform_env(
            work,
            BI_REPORTS_DIR=str(tmp_path / "reports"),
            AIRFLOW_HOME=str(tmp_path / "airflow"),
            AIRFLOW_CONN_SMTP_ALERTS=json.dumps(connection),
        )
        env = {k: v for k, v in env.items() if k not in ("SMTP_HOST", "SMTP_TO")}
        run(env, sys.executable, "-m", "orchestration", "setup")
        done = subprocess.run(
            [sys.executable, "-c", DAG_RUN, str(ROOT / "dags")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    [schedule] = [x for x in done.stdout.splitlines() if x.startswith("SCHEDULE=")]
    assert "0 6 * * 1" in schedule
    [tasks] = [x for x in done.stdout.splitlines() if x.startswith("TASKS=")]
    assert json.loads(tasks.removeprefix("TASKS=")) == {"excel_report": "success"}
    # Monday 2026-01-12 reports on the ISO week before it: 2026-W02
    path = tmp_path / "reports" / "weekly_review_2026-W02.xlsx"
    assert path.is_file(), output[-3000:]
    [mail] = mailbox.messages
    assert mail["to"] == ["review@example.com"]
    assert mail["message"]["Subject"] == "Weekly business review 2026-W02"
    name, content = _attachment(mail["message"])
    assert name == path.name and content == path.read_bytes()
    rows = kpi_rows(path)
    assert_same("orders", rows["orders"][0], expected_kpis(warehouse, W02)["orders"])


# --------------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="module")
def pg_warehouse(tmp_path_factory):
    work = tmp_path_factory.mktemp("bi_excel_pg")
    with sample_warehouse(work, "postgres") as env:
        yield env


@pytest.mark.slow
@pytest.mark.postgres
def test_report_on_postgres_equals_the_marts_there(pg_warehouse, tmp_path):
    out = tmp_path / "pg.xlsx"
    done = bi(pg_warehouse, "report", "--week", "2026-W02", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = kpi_rows(out)
    now, before = expected_kpis(pg_warehouse, W02), expected_kpis(pg_warehouse, W01)
    for key in LABELS:
        assert_same(key, rows[key][0], now[key])
        assert_same(key, rows[key][1], before[key])
    assert len([n for n in zipfile.ZipFile(out).namelist() if n.startswith("xl/charts/")]) == 4
