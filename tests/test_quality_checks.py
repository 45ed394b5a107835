"""The quality package end to end, on real DuckDB warehouses and real Great Expectations.

One module-scoped landing zone each: the committed clean sample (loaded, marts built by dbt), a
fault-injected generation (the generator's ``_faults.json`` is the ground truth every fault is
mapped against) and 60 clean days for the anomaly detector's false-positive rate. Alerts are
delivered to a local webhook receiver and a local aiosmtpd server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from dbt_support import run_dbt
from test_alerts import (
    MailHandler,
    WebhookReceiver,
    _block_text,
    _free_port,
    _parts,
    build_tiny_dbt,
)

from data_generator import generate
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
START = date(2026, 1, 1)
ALERT_VARS = ("SLACK_WEBHOOK_URL", "SMTP_HOST", "SMTP_TO", "QUALITY_DATA_DOCS_BASE_URL")


@dataclass
class Landed:
    landing: Path
    env: dict[str, str]

    @property
    def db(self) -> Path:
        return Path(self.env["DUCKDB_PATH"])

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql).fetchall()

    def quality(self, *args: str) -> subprocess.CompletedProcess:
        return _quality(self.env, *args)


def _quality(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m quality ARGS`` in a subprocess with ``env``, from the repository root."""
    return subprocess.run(
        [PY, "-m", "quality", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _land(work: Path, landing: Path) -> Landed:
    """Load ``landing`` into a fresh DuckDB file with the real loader; a private quality env."""
    db = work / "warehouse.duckdb"
    with DuckDBBackend(db) as backend:
        report = load_files(backend, discover(landing))
    assert not report.failed, [f.file for f in report.failed]
    env = {k: v for k, v in os.environ.items() if k not in ALERT_VARS}
    env.update(
        WAREHOUSE_TARGET="duckdb",
        DUCKDB_PATH=str(db),
        QUALITY_GX_ROOT=str(work / "gx_root"),
        QUALITY_DATA_DOCS_DIR=str(work / "data_docs"),
        PLATFORM_LOCAL_DIR=str(work / "local"),
        ALERT_STATE_PATH=str(work / "alerts.sqlite"),
    )
    return Landed(landing, env)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Landed:
    """The committed 14-day sample, loaded, with the marts built once by dbt."""
    work = tmp_path_factory.mktemp("quality_clean")
    landing = work / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    landed = _land(work, landing)
    done = run_dbt(work, {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(landed.db)}, "build")
    assert done.returncode == 0, done.stdout[-3000:]
    return landed


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Landed:
    """35 days with every fault (the volume drop falls on a day with 4 same-weekdays before it)."""
    work = tmp_path_factory.mktemp("quality_faulty")
    landing = work / "landing"
    generate(start=START, days=35, scale=0.1, seed=11, out=landing, faults="all", fault_rate=0.004)
    return _land(work, landing)


@pytest.fixture(scope="module")
def faulty_checked(faulty) -> dict:
    """The bronze gate and the anomaly check of the volume-drop day, run once on ``faulty``."""
    faults = json.loads((faulty.landing / "_faults.json").read_text())["faults"]
    drop_days = sorted({_file_day(f["file"]) for f in faults if f["fault"] == "volume_drop"})
    bronze = faulty.quality("check", "--layer", "bronze")
    anomalies = [faulty.quality("anomalies", "--date", d.isoformat()) for d in drop_days]
    return {"faults": faults, "bronze": bronze, "anomalies": anomalies}


@pytest.fixture(scope="module")
def clean_60_days(tmp_path_factory) -> Landed:
    work = tmp_path_factory.mktemp("quality_60")
    landing = work / "landing"
    generate(start=START, days=63, scale=0.05, seed=5, out=landing)
    landed = _land(work, landing)
    # the facts the anomaly metrics read (no tests: only the daily metrics are needed)
    facts = "+fct_orders +fct_shipments +fct_quality_inspections +fct_waste_events"
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(landed.db)}
    done = run_dbt(work, env, "run", "--select", *facts.split())
    assert done.returncode == 0, done.stdout[-3000:]
    return landed


def _file_day(path: str) -> date:
    return date.fromisoformat(Path(path).stem)


# --------------------------------------------------------------------------- clean data
def test_clean_sample_passes_the_bronze_gate_and_writes_its_results(clean):
    done = clean.quality("check", "--layer", "bronze")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "quality check bronze: 16 suites" in done.stdout
    assert "0 error(s)" in done.stdout
    rows = clean.query(
        "select count(*), count(distinct suite), bool_and(success) from quality.check_results "
        "where layer = 'bronze'"
    )[0]
    assert rows[0] > 150 and rows[1] == 16 and rows[2] is True, rows
    assert (Path(clean.env["QUALITY_DATA_DOCS_DIR"]) / "index.html").is_file()


def _rendered_rows(dom: str, table_id: str) -> list[str]:
    """The text of each row bootstrap-table drew into the table ``table_id`` (none when its
    scripts did not run)."""
    body = dom.split(f'<table id="{table_id}"', 1)[-1].split("</table>", 1)[0]
    rows = re.findall(r'<tr\b[^>]*\bdata-index="\d+"[^>]*>(.*?)</tr>', body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def _dark_share(png: Path) -> float:
    """The share of a screenshot's pixels that are not (near) white."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
        return sum(histogram[:200]) / (grey.width * grey.height)


def test_data_docs_work_offline_and_list_the_suites_in_headless_chromium(clean, tmp_path):
    from quality.data_docs import chromium, remote_assets, rendered_dom

    docs = Path(clean.env["QUALITY_DATA_DOCS_DIR"])
    index = docs / "index.html"
    if not index.is_file():  # run on its own: build the docs first
        assert clean.quality("check", "--layer", "bronze").returncode == 0
    png = tmp_path / "data_docs.png"
    if chromium() is None and os.environ.get("REQUIRE_CHROMIUM") != "1":
        pytest.skip("chromium is not installed (set REQUIRE_CHROMIUM=1 to fail)")
    done = clean.quality("docs", "--screenshot", str(png))
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]

    # no page loads a script, style or image from the network (GX's defaults: CDNs, its S3 logo)
    pages = [p for p in docs.rglob("*.html") if "static" not in p.relative_to(docs).parts]
    assert len(pages) > 16
    remote = {str(p.relative_to(docs)): remote_assets(p.read_text()) for p in pages}
    assert not {page: urls for page, urls in remote.items() if urls}
    assert (docs / "static" / "vendor" / "jquery-3.7.1" / "jquery.min.js").is_file()

    # after its scripts ran, the index lists the validation results and the suites
    dom = rendered_dom(index)
    validations = _rendered_rows(dom, "section-1-content-block-2-1-body-table")
    suites = _rendered_rows(dom, "section-1-content-block-2-2-body-table")
    assert len(validations) == 10 and all("UTC" in row for row in validations), validations
    assert {"bronze._load_audit", "bronze._rejects", "bronze.orders"} <= set(suites), suites
    totals = [int(n) for n in re.findall(r"Showing 1 to 10 of (\d+) rows", dom)]
    assert len(totals) == 2 and min(totals) >= 16, totals

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the tables drawn: ~4% of the pixels are text, lines and icons; unstyled headings: ~0.5%
    assert _dark_share(png) > 0.02, _dark_share(png)


def test_clean_sample_passes_the_mart_checks(clean):
    done = clean.quality("check", "--layer", "marts")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    ok = clean.query(
        "select count(distinct suite), bool_and(success) from quality.check_results "
        "where layer = 'marts'"
    )[0]
    assert ok == (3, True)


def test_clean_sample_is_fresh_and_has_no_anomaly(clean):
    fresh = clean.quality("freshness")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr[-2000:]
    assert clean.query("select count(*) from quality.freshness_results where severity <> 'ok'") == [
        (0,)
    ]
    assert clean.query("select count(*) from quality.freshness_results where kind = 'mart'") == [
        (3,)
    ]
    anomalies = clean.quality("anomalies")
    assert anomalies.returncode == 0, anomalies.stdout + anomalies.stderr[-2000:]
    assert "quality anomalies 2026-01-14" in anomalies.stdout
    assert clean.query("select count(*) from quality.anomaly_results where is_anomaly") == [(0,)]


def test_cli_usage_errors_exit_2(clean):
    assert clean.quality("check", "--layer", "gold").returncode == 2
    assert clean.quality("anomalies", "--date", "yesterday").returncode == 2


# --------------------------------------------------------------------------- faults
def test_faulty_bronze_gate_fails_with_exit_1(faulty_checked):
    done = faulty_checked["bronze"]
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    assert "failed  bronze.orders:key_unique" in done.stdout


def _caught(fault: dict, failed: set[tuple[str, str, str | None]], rejects, drift, anomalies):
    """The check that caught ``fault`` (None: not caught)."""
    table, kind = fault["table"], fault["fault"]
    suite = f"bronze.{table}"
    if kind == "schema_drift":
        ok = fault["file"] in drift and ("bronze._load_audit", "no_schema_drift", None) in failed
        return "bronze._load_audit:no_schema_drift" if ok else None
    if fault["stage"] == "ingestion":
        ok = (fault["file"], fault["line"]) in rejects
        return "bronze._rejects:rejects_quarantined" if ok and rejects else None
    if kind == "duplicate_key":
        return f"{suite}:key_unique" if (suite, "key_unique", None) in failed else None
    if kind == "null_required":
        hit = (suite, "not_null", fault["column"]) in failed
        return f"{suite}:not_null({fault['column']})" if hit else None
    if kind == "late_arrival":
        return f"{suite}:late_arrival" if (suite, "late_arrival", None) in failed else None
    if kind == "volume_drop":
        key = (_file_day(fault["file"]), f"rows_{table}")
        return f"anomaly:rows_{table}" if key in anomalies else None
    return None


def test_every_injected_fault_is_caught_by_a_check(faulty, faulty_checked):
    rows = faulty.query(
        "select suite, split_part(expectation, ':', 1), column_name from quality.check_results "
        "where not success"
    )
    failed = {(s, c, None) for s, c, _ in rows} | {(s, c, col) for s, c, col in rows}
    rejects = set(faulty.query("select file_path, line_number from bronze._rejects"))
    drift = {
        r[0]
        for r in faulty.query(
            "select file_path from bronze._load_audit where schema_drift is not null"
        )
    }
    anomalies = set(
        faulty.query("select day, metric from quality.anomaly_results where is_anomaly")
    )
    caught: dict[str, dict[str, int]] = {}
    missed = []
    for fault in faulty_checked["faults"]:
        check = _caught(fault, failed, rejects, drift, anomalies)
        if check is None:
            missed.append(fault)
        else:
            by = caught.setdefault(fault["fault"], {})
            by[check] = by.get(check, 0) + 1
    print("\nfault -> check:", json.dumps(caught, indent=1, sort_keys=True))
    assert not missed, missed[:5]
    injected = {f["fault"] for f in faulty_checked["faults"]}
    assert set(caught) == injected
    assert len(injected) == 9  # every fault type of the generator was injected and caught


def test_a_day_s_late_arrival_rows_are_those_of_the_whole_table_check(faulty):
    """For one day's file the order lines' check aggregates only the parents of that file's
    rows; the rows and their lag are those of the whole-table check, late lines included."""
    import pandas as pd

    from quality.suites import bronze_checks

    late = [
        f for f in json.loads((faulty.landing / "_faults.json").read_text())["faults"]
        if f["fault"] == "late_arrival" and f["table"] == "order_lines"
    ]  # fmt: skip
    assert late, "the faulty generation has no late order line"
    day = _file_day(late[0]["file"])

    def sql(d: date | None) -> str:
        return next(t.sql for t in bronze_checks(d) if t.suite == "bronze.order_lines")

    assert "where order_id in (select order_id from bronze.order_lines where" in sql(day)
    with duckdb.connect(str(faulty.db), read_only=True) as con:
        got = con.execute(sql(day)).df()
        whole = con.execute(sql(None)).df()
    expected = whole[whole["_source_file"].str.endswith(f"{day.isoformat()}.csv")]
    keys = ["order_line_id", "_source_file"]
    pd.testing.assert_frame_equal(
        got.sort_values(keys).reset_index(drop=True),
        expected.sort_values(keys).reset_index(drop=True),
        check_dtype=False,  # the whole table has null ids elsewhere (a nullable integer column)
    )
    assert len(got) > 100 and (got["_placed_lag_days"] > 1).sum() >= 1


def test_volume_drop_day_exits_1_and_flags_the_dropped_tables(faulty_checked):
    for done in faulty_checked["anomalies"]:
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]
        assert "anomaly  rows_orders" in done.stdout


# --------------------------------------------------------------------------- false positives
def test_anomalies_raise_at_most_one_alert_over_60_clean_days(clean_60_days):
    from ingestion.warehouse import connect
    from quality.anomalies import detect

    first = START + timedelta(days=3)  # before: no history at all
    flagged, scored = [], 0
    with connect(clean_60_days.env) as wh:
        for k in range(60):
            day = first + timedelta(days=k)
            for s in detect(wh, day):
                scored += s.status in ("ok", "anomaly")
                if s.is_anomaly:
                    flagged.append((day.isoformat(), s.metric, s.z))
    print(f"\nfalse positives over 60 clean days: {len(flagged)} of {scored} scores {flagged}")
    # scored: the volume and order metrics from the fourth week on (at scale 0.05 inspections and
    # waste events are a few rows a day: "low_volume", not scored)
    assert scored > 200
    assert len(flagged) <= 1, flagged


# --------------------------------------------------------------------------- alert delivery
@pytest.fixture
def receivers():
    """A local webhook receiver and a local SMTP server (as in test_alerts)."""
    webhook, mailbox = WebhookReceiver(), MailHandler()
    webhook.thread.start()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    yield webhook, smtp, mailbox
    smtp.stop()
    webhook.server.shutdown()
    webhook.server.server_close()


def test_a_finding_is_delivered_rendered_to_the_webhook_and_by_email(
    faulty, faulty_checked, receivers, tmp_path
):
    webhook, controller, mailbox = receivers
    drop = min(
        _file_day(f["file"]) for f in faulty_checked["faults"] if f["fault"] == "volume_drop"
    )
    env = {
        **faulty.env,
        "SLACK_WEBHOOK_URL": webhook.url(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(controller.port),
        "SMTP_FROM": "quality@example.com",
        "SMTP_TO": "oncall@example.com",
        "ALERT_STATE_PATH": str(tmp_path / "alerts.sqlite"),
        "QUALITY_DATA_DOCS_BASE_URL": "https://quality.example.com/docs",
        "METRICS_API_URL": "https://metrics.example.com",
    }
    done = _quality(env, "anomalies", "--date", drop.isoformat())
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    # one message for the run, one group per anomalous metric (or metric and dimension)
    [payload] = webhook.payloads()
    text = _block_text(payload)
    assert f"anomalies on {drop}: " in payload["blocks"][0]["text"]["text"]
    assert "rows_orders" in payload["blocks"][0]["text"]["text"]
    assert "*rows_orders*" in text and "expected (z " in text and "days of history" in text
    # every anomalous monitor is one finding, linked to its series in the metrics API
    series = "https://metrics.example.com/anomalies?metric="
    assert text.count(series) >= done.stdout.count("  anomaly  ") >= 1, text
    assert f"<{series}rows_orders|day>" in text
    assert "https://quality.example.com/docs/index.html" in text
    [mail] = mailbox.messages
    assert f"anomalies on {drop}" in mail["message"]["subject"]
    html, plain = _parts(mail["message"])
    assert "expected (z " in html and "https://quality.example.com/docs/index.html" in html
    assert f"{series}rows_orders" in plain
    assert "rows_orders: 1 check failed" in plain
    assert mail["to"] == ["oncall@example.com"]


# --------------------------------------------------------------------------- dbt test results
@pytest.fixture(scope="module")
def tiny_dbt_target(tmp_path_factory) -> Path:
    return build_tiny_dbt(tmp_path_factory.mktemp("tiny_dbt"))


def test_dbt_test_warnings_and_failures_are_read_with_model_and_column(tiny_dbt_target):
    from quality.dbt_results import read

    got = {(r.status, r.where, r.test, r.failures) for r in read(tiny_dbt_target)}
    assert got == {
        ("warn", "orders.status", "accepted_values", 1),
        ("warn", "source:raw.raw_events.customer_id", "not_null", 2),
        ("fail", "orders.order_id", "unique", 1),
        ("error", "orders", "orders_have_a_customer", None),
    }


def test_dbt_test_results_alert_in_the_one_format_once_per_window(
    tiny_dbt_target, receivers, tmp_path
):
    webhook, controller, mailbox = receivers
    env = {
        **{k: v for k, v in os.environ.items() if k not in ALERT_VARS},
        "SLACK_WEBHOOK_URL": webhook.url(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(controller.port),
        "SMTP_TO": "oncall@example.com",
        "ALERT_STATE_PATH": str(tmp_path / "alerts.sqlite"),
        "DBT_DOCS_URL": "https://dbt-docs.example.com",
    }
    done = _quality(env, "dbt-results", "--path", str(tiny_dbt_target))
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]  # a test failed
    assert "warn   orders.status  accepted_values_orders_status__placed__shipped" in done.stdout
    assert "2 error(s), 2 warning(s), 1 alert(s)" in done.stdout

    [payload] = webhook.payloads()  # one message for the run, grouped by model
    assert payload["blocks"][0]["text"]["text"] == (
        ":rotating_light: dbt tests need a look: 1 failed, 1 errored, 2 warned"
    )
    fields = [f["text"] for f in payload["blocks"][1]["fields"]]
    assert "*Where*\norders, source:raw.raw_events" in fields
    assert "*Deviation*\n1 failed, 1 errored, 2 warned" in fields
    groups = [
        b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b
    ]
    orders, source = groups
    test_page = "https://dbt-docs.example.com/#!/test/test.tiny.accepted_values_orders_status"
    assert f"<{test_page}" in orders
    assert (
        "|accepted_values_orders_status__placed__shipped> on `status` _(warning)_: 1 row" in orders
    )
    assert "|unique_orders_order_id> on `order_id`: 1 row; failed" in orders
    assert "|orders_have_a_customer>: errored" in orders
    assert "on `customer_id` _(warning)_: 2 rows; warned" in source
    [button] = payload["blocks"][-1]["elements"]
    assert button["url"] == "https://dbt-docs.example.com/"
    [mail] = mailbox.messages
    assert " ".join(mail["message"]["subject"].split()) == (
        "[ERROR] dbt tests need a look: 1 failed, 1 errored, 2 warned · "
        "orders, source:raw.raw_events"
    )

    again = _quality(env, "dbt-results", "--path", str(tiny_dbt_target))
    assert again.returncode == 1
    assert len(webhook.payloads()) == len(mailbox.messages) == 1  # the repeat is held back


def test_clean_sample_dbt_build_leaves_no_dbt_test_to_alert_on(clean):
    done = clean.quality("dbt-results", "--path", str(clean.db.parent / "target"))
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "0 error(s), 0 warning(s), 0 alert(s)" in done.stdout


def test_dbt_results_without_a_run_say_what_to_do(tmp_path):
    done = _quality(dict(os.environ), "dbt-results", "--path", str(tmp_path))
    assert done.returncode == 1
    assert f"no dbt run_results.json in {tmp_path}: run `dbt build`" in done.stderr


# --------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_clean_sample_passes_the_bronze_gate_on_postgres(tmp_path):
    """The SQL route: GX's PostgreSQL data source, results in the same database."""
    import uuid

    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    name = f"quality_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ALERT_VARS}
        env.update(
            WAREHOUSE_TARGET="postgres",
            PGHOST=admin["host"],
            PGPORT=admin["port"],
            PGUSER=admin["user"],
            PGDATABASE=name,
            QUALITY_GX_ROOT=str(tmp_path / "gx_root"),
            QUALITY_DATA_DOCS_DIR=str(tmp_path / "data_docs"),
            ALERT_STATE_PATH=str(tmp_path / "alerts.sqlite"),
        )
        conninfo = PostgresBackend.conninfo(env)
        with PostgresBackend("bronze", conninfo) as backend:
            report = load_files(backend, discover(ROOT / "sample_data"))
        assert not report.failed
        done = _quality(env, "check", "--layer", "bronze")
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        with psycopg.connect(conninfo) as conn:
            got = conn.execute(
                "select count(distinct suite), bool_and(success) from quality.check_results"
            ).fetchone()
        assert got == (16, True)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


# --------------------------------------------------------------------------- make docs
class DocsServer:
    """``python -m orchestration.docs`` in a subprocess; stopped by its PID with SIGTERM."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        import queue
        import threading

        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [PY, "-m", "orchestration.docs", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_ready(self, seconds: float = 300) -> None:
        import queue
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if "make docs: ready" in self.lines.get(timeout=1):
                    time.sleep(0.5)  # the lines after it
                    return
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.output)
        raise AssertionError("make docs was not ready:\n" + "".join(self.output))

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(60)


def _get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_docs_serves_dbt_docs_data_docs_and_the_mlflow_ui_on_loopback(clean, tmp_path):
    if not (Path(clean.env["QUALITY_DATA_DOCS_DIR"]) / "index.html").is_file():
        assert clean.quality("check", "--layer", "bronze").returncode == 0  # run on its own
    port, mlflow_port = _free_port(), _free_port()
    env = {
        **clean.env,
        "DOCS_PORT": str(port),
        "MLFLOW_UI_PORT": str(mlflow_port),
        "PLATFORM_LOCAL_DIR": str(tmp_path / "local"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_LOCATION": (tmp_path / "mlflow" / "artifacts").as_uri(),
    }
    server = DocsServer(env)
    try:
        server.wait_ready()
        out = "".join(server.output)
        assert f"dbt docs   http://127.0.0.1:{port}/dbt/\n" in out
        assert f"Data Docs  http://127.0.0.1:{port}/data-docs/\n" in out
        assert f"MLflow UI  http://127.0.0.1:{mlflow_port}/\n" in out

        status, page = _get(f"http://127.0.0.1:{port}/dbt/")
        assert status == 200 and "dbt" in page.lower()
        status, manifest = _get(f"http://127.0.0.1:{port}/dbt/manifest.json")
        assert (
            status == 200 and "model.analytics_platform.fct_orders" in json.loads(manifest)["nodes"]
        )
        status, catalog = _get(f"http://127.0.0.1:{port}/dbt/catalog.json")
        assert status == 200 and any("fct_orders" in k for k in json.loads(catalog)["nodes"])
        status, page = _get(f"http://127.0.0.1:{port}/data-docs/index.html")
        assert status == 200 and "bronze.orders" in page
        status, page = _get(f"http://127.0.0.1:{mlflow_port}/")
        assert status == 200 and "<title>MLflow</title>" in page
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and f"http://127.0.0.1:{mlflow_port}/" in page
        status, _ = _get(f"http://127.0.0.1:{port}/dbt/../../etc/passwd")
        assert status == 404
    finally:
        code = server.stop()
    assert code == 0, "".join(server.output)
    assert "make docs: stopped" in "".join(server.output)
    assert not _listening(port) and not _listening(mlflow_port)  # MLflow stopped with it


def test_make_docs_says_why_a_page_is_missing(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ALERT_VARS},
        "DOCS_PORT": str(port),
        "PLATFORM_LOCAL_DIR": str(tmp_path),
        "QUALITY_DATA_DOCS_DIR": str(tmp_path / "no_data_docs"),
    }
    server = DocsServer(env, "--no-generate", "--no-mlflow")
    try:
        server.wait_ready(120)
        assert "(none yet, see the page)" in "".join(server.output)
        status, page = _get(f"http://127.0.0.1:{port}/dbt/")
        assert status == 404 and f"{tmp_path / 'docs' / 'dbt'} has no index.html yet" in page
        status, page = _get(f"http://127.0.0.1:{port}/data-docs/")
        assert status == 404 and "run `make run` or `python -m quality check" in page
    finally:
        assert server.stop() == 0
