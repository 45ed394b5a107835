"""PII never reaches what people read: alerts, Data Docs, quality.check_results, CLI output.

A landing zone with a customers file whose bad rows carry ``victim.name@example.com`` and a
phone number (in their own columns, in the wrong column, in a line the loader rejects) and an
orders file with bad values goes through the real loader, the real bronze gate (Great
Expectations) and real alert delivery to a webhook receiver and an SMTP server on 127.0.0.1.
Nothing may contain the address, the phone number, the name or the street; the non-PII bad
values (``vip``, ``fax``, ``lost``) must be shown, and the masked forms prove the personal
values were there to leak. The same gate runs on PostgreSQL (GX's SQL route).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from test_alerts import MailHandler, WebhookReceiver, _free_port, _parts

from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files
from ingestion.pii import (
    MASK,
    PHONE_MASK,
    is_null,
    mask_csv_line,
    mask_row,
    mask_value,
    pii_columns,
    scrub_text,
)
from ingestion.readiness import seal_day

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
EMAIL = "victim.name@example.com"
PHONE = "+1-202-555-0147"
# every form of the personal values that must never be shown
SECRETS = (EMAIL, "victim.name", "Victim", PHONE, "202-555-0147", "202 555 0147", "Secret Lane")
ALERT_VARS = ("SLACK_WEBHOOK_URL", "SMTP_HOST", "SMTP_TO", "QUALITY_DATA_DOCS_BASE_URL")
LOADED_AT = "2026-01-01 03:00:00"  # the bad batch's load time, set after the load
DOCS_BASE = "http://docs.example:8090"

CUSTOMERS_BAD = [
    # the email in the wrong column (segment): scrubbed as free text
    f'900001,"Victim","Name","{EMAIL}","{PHONE}","1 Secret Lane","Springfield","IL","62701",'
    f'"US","{EMAIL}",true,2026-01-01 08:00:00,2026-01-01 08:00:00',
    # the phone in the wrong column
    f'900002,"Victim","Name","{EMAIL}","{PHONE}","1 Secret Lane","Springfield","IL","62701",'
    '"US","+1 202 555 0147",true,2026-01-01 08:00:00,2026-01-01 08:00:00',
    # a non-PII bad value: shown
    '900003,"Ann","Other","ann.other@example.com",,,"Springfield","IL","62701","US","vip",'
    "false,2026-01-01 08:00:00,2026-01-01 08:00:00",
    # a missing first name (a PII column): shown as null
    '900004,,"Other","b.other@example.com",,,"Springfield","IL","62701","US","standard",'
    "false,2026-01-01 08:00:00,2026-01-01 08:00:00",
    # a timestamp that does not parse: the line is rejected, its raw text kept in _rejects
    f'900005,"Victim","Name","{EMAIL}","{PHONE}","1 Secret Lane","Springfield","IL","62701",'
    '"US","standard",true,yesterday,2026-01-01 08:00:00',
]
ORDERS_BAD = [
    "990001,900001,2026-01-01 09:00:00,fax,placed,2026-01-01 09:00:00",
    "990002,900001,2026-01-01 09:00:00,web,lost,2026-01-01 09:00:00",
    "990002,900001,2026-01-01 09:00:00,web,placed,2026-01-01 09:00:00",
]


# --------------------------------------------------------------------------- the helper itself
def test_contract_marks_are_the_pii_columns():
    assert pii_columns("customers") == (
        "first_name",
        "last_name",
        "email",
        "phone",
        "street_address",
    )
    assert pii_columns("bronze.customers") == pii_columns("customers")
    assert pii_columns("orders") == () and pii_columns("marts.fct_orders") == ()


def test_values_of_pii_columns_are_masked_and_others_kept():
    assert mask_value("customers", "email", EMAIL) == "v***@e***.com"
    assert mask_value("customers", "phone", PHONE) == MASK
    assert mask_value("customers", "first_name", "Victim") == MASK
    assert mask_value("customers", "first_name", None) is None  # a null is not personal
    assert mask_value("customers", "first_name", float("nan")) is None
    assert mask_value("customers", "first_name", "") == ""
    assert mask_value("customers", "segment", "vip") == "vip"  # not PII: shown
    assert mask_value("customers", "segment", EMAIL) == "v***@e***.com"  # scrubbed
    assert mask_row("customers", {"customer_id": 7, "email": EMAIL, "city": "Springfield"}) == {
        "customer_id": 7,
        "email": "v***@e***.com",
        "city": "Springfield",
    }


def test_a_raw_csv_line_is_masked_by_the_contract_positions():
    line = CUSTOMERS_BAD[-1]
    masked = mask_csv_line("customers", line)
    assert not [s for s in SECRETS if s in masked], masked
    assert masked.startswith("900005,<masked>,<masked>,v***@e***.com,<masked>,<masked>,Springfield")
    assert masked.endswith(",standard,true,yesterday,2026-01-01 08:00:00")
    # with the file's own header order
    header = ["email", "customer_id"]
    assert mask_csv_line("customers", f"{EMAIL},5", header) == "v***@e***.com,5"
    # a field count that does not match: positions cannot be trusted, every field is masked
    short = mask_csv_line("customers", f"900006,Victim,{EMAIL}")
    assert short == ",".join([MASK] * 3)
    # a table without PII is only scrubbed
    assert mask_csv_line("orders", ORDERS_BAD[0]) == ORDERS_BAD[0]
    assert mask_csv_line("orders", f"1,2,{EMAIL}") == "1,2,v***@e***.com"


def test_free_text_scrubber_masks_emails_and_phones_but_not_dates_ids_or_amounts():
    text = f"row 7: could not load {EMAIL} / {PHONE} / (202) 555-0147 / +12025550147"
    assert scrub_text(text) == (
        f"row 7: could not load v***@e***.com / {PHONE_MASK} / {PHONE_MASK} / {PHONE_MASK}"
    )
    kept = (
        "2026-01-05 10:00:00 UTC",
        "manual__2026-01-05T00:00:00+00:00",
        "order 1234567 of 28,664 rows, 1234.5678 EUR, z +4.52",
        "http://127.0.0.1:8090/data-docs/index.html",
        "data/landing/customers/2026-01-05.csv",
        "05.01.2026 and 192.168.10.20",
    )
    for s in kept:
        assert scrub_text(s) == s


def test_missing_markers_are_null_and_values_render_as_text():
    import pandas as pd

    from quality.samples import clip, distinct, text

    assert all(is_null(v) for v in (None, float("nan"), pd.NA, pd.NaT))
    assert [text(v) for v in (None, pd.NA, pd.NaT, float("nan"))] == ["null"] * 4
    assert text(pd.Timestamp("2026-01-05 10:00:00")) == "2026-01-05 10:00:00"
    assert text(True) == "true" and text(" vip ") == '" vip "' and text("") == '""'
    assert text({"_source_file": "orders/2026-01-01.csv", "order_id": 990002}) == (
        "_source_file=orders/2026-01-01.csv, order_id=990002"
    )
    assert distinct(["fax", "fax", None, "lost", pd.NA, "x", "y"]) == ["fax", "null", "lost", "…"]
    # cut at a word boundary, never in the middle of a key
    cut = clip("_source_file=data/landing/orders/2026-01-01.csv, order_id=990002", 50)
    assert cut == "_source_file=data/landing/orders/2026-01-01.csv…"


# --------------------------------------------------------------------------- the gate, end to end
@dataclass
class Gate:
    env: dict[str, str]
    cli: subprocess.CompletedProcess
    slack: list[dict]
    mail: list[dict]

    @property
    def db(self) -> Path:
        return Path(self.env["DUCKDB_PATH"])

    def check_results(self) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute("select * from quality.check_results").fetchall()


def bad_landing(work: Path) -> Path:
    """The first 200 customers and the orders of 2026-01-01, plus the bad rows above."""
    landing = work / "landing"
    for table, bad, keep in (("customers", CUSTOMERS_BAD, 201), ("orders", ORDERS_BAD, None)):
        lines = (ROOT / "sample_data" / table / "2026-01-01.csv").read_text().splitlines()
        (landing / table).mkdir(parents=True)
        (landing / table / "2026-01-01.csv").write_text("\n".join(lines[:keep] + bad) + "\n")
    # the day is complete: its readiness manifest (ingestion/readiness.py), as a producer writes it
    seal_day(landing, date(2026, 1, 1), ["customers/2026-01-01.csv", "orders/2026-01-01.csv"])
    return landing


def quality_env(work: Path, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ALERT_VARS}
    env.update(
        DUCKDB_PATH=str(db),
        QUALITY_GX_ROOT=str(work / "gx_root"),
        QUALITY_DATA_DOCS_DIR=str(work / "data_docs"),
        PLATFORM_LOCAL_DIR=str(work / "local"),
        ALERT_STATE_PATH=str(work / "alerts.sqlite"),
        DOCS_BASE_URL=DOCS_BASE,
    )
    return env


@pytest.fixture(scope="module")
def receivers():
    webhook, mailbox = WebhookReceiver(), MailHandler()
    webhook.thread.start()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    yield webhook, smtp, mailbox
    smtp.stop()
    webhook.server.shutdown()
    webhook.server.server_close()


def run_gate(env: dict[str, str], receivers) -> Gate:
    """``python -m quality check --layer bronze -v`` with alerts to the local receivers."""
    webhook, smtp, mailbox = receivers
    webhook.requests.clear()
    mailbox.messages.clear()
    env = {
        **env,
        "SLACK_WEBHOOK_URL": webhook.url(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_TO": "oncall@example.com",
    }
    cli = subprocess.run(
        [PY, "-m", "quality", "-v", "check", "--layer", "bronze"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Gate(env, cli, webhook.payloads(), list(mailbox.messages))


@pytest.fixture(scope="module")
def gate(tmp_path_factory, receivers) -> Gate:
    work = tmp_path_factory.mktemp("pii_gate")
    db = work / "warehouse.duckdb"
    with DuckDBBackend(db) as backend:
        report = load_files(backend, discover(bad_landing(work)))
    assert not report.failed, [f.file for f in report.failed]
    with duckdb.connect(str(db)) as con:  # the bad batch arrived at 03:00, hours before the check
        con.execute(f"update bronze.customers set _loaded_at = timestamp '{LOADED_AT}'")
        con.execute(f"update bronze.orders set _loaded_at = timestamp '{LOADED_AT}'")
        rejected = con.execute("select raw_line from bronze._rejects").fetchall()
    assert [r for (r,) in rejected if EMAIL in r], "the test needs a rejected line with the email"
    return run_gate({**quality_env(work, db), "WAREHOUSE_TARGET": "duckdb"}, receivers)


def _mail_text(mail: dict) -> str:
    html, plain = _parts(mail["message"])
    return "\n".join([str(mail["message"]["Subject"]), html, plain])


def _seen(gate: Gate, docs: Path) -> dict[str, str]:
    """Everything the run showed people or kept, per place."""
    gx_store = Path(gate.env["QUALITY_GX_ROOT"]) / "gx"
    return {
        "cli": gate.cli.stdout + gate.cli.stderr,
        "slack": json.dumps(gate.slack, ensure_ascii=False),
        "email": "\n".join(_mail_text(m) for m in gate.mail),
        "check_results": json.dumps(gate.check_results(), default=str, ensure_ascii=False),
        "data_docs": "\n".join(
            p.read_text(errors="replace")
            for p in docs.rglob("*")
            if p.is_file() and p.suffix in (".html", ".json") and "vendor" not in p.parts
        ),
        "gx_store": "\n".join(
            p.read_text(errors="replace") for p in gx_store.rglob("*.json") if p.is_file()
        ),
    }


def test_no_personal_value_reaches_alerts_results_data_docs_or_output(gate):
    assert gate.cli.returncode == 1, gate.cli.stdout + gate.cli.stderr[-3000:]
    seen = _seen(gate, Path(gate.env["QUALITY_DATA_DOCS_DIR"]))
    assert len(seen["data_docs"]) > 10_000 and len(seen["gx_store"]) > 10_000
    leaks = {place: [s for s in SECRETS if s in text] for place, text in seen.items()}
    assert not {place: found for place, found in leaks.items() if found}


def test_bad_non_pii_values_and_the_masked_forms_are_shown(gate):
    seen = _seen(gate, Path(gate.env["QUALITY_DATA_DOCS_DIR"]))
    for place in ("slack", "email", "check_results", "data_docs"):
        for value in ("vip", "fax", "lost"):
            assert value in seen[place], (place, value)
        # the email and the phone that sat in the segment column were there, masked
        assert "v***@e***.com" in seen[place], place
    assert "&lt;masked phone&gt;" in seen["slack"]  # Slack escapes < and >
    assert "<masked phone>" in seen["check_results"]
    # the rejected line is previewed, masked by the contract's positions
    preview = "900005,&lt;masked&gt;,&lt;masked&gt;,v***@e***.com,&lt;masked&gt;,&lt;masked&gt;,"
    assert preview + "Springfield" in seen["slack"]


def test_one_message_per_run_grouped_by_table_with_columns_and_text_samples(gate):
    assert len(gate.slack) == 1 and len(gate.mail) == 1
    [payload] = gate.slack
    header = payload["blocks"][0]["text"]["text"]
    assert header == ":rotating_light: bronze gate: 6 checks failed in 2 tables"
    groups = [
        b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b
    ]
    names = [g.split("*")[1] for g in groups]
    assert names == ["bronze.customers", "bronze.orders"]
    customers, orders = groups[0], groups[1]
    assert f"bad batch loaded {LOADED_AT} UTC" in customers  # when it arrived, not the check
    assert "• `allowed_values` on `segment`: 3 rows; samples: " in customers
    assert "• `not_null` on `first_name`: 1 row; samples: `null`" in customers
    assert "• `rejects_quarantined` _(warning)_: 1 row; lines quarantined; samples: " in customers
    assert "`allowed_values` on `channel`: 1 row; samples: `fax`" in orders
    assert "`allowed_values` on `status`: 1 row; samples: `lost`" in orders
    assert "`key_unique` on `_source_file,order_id`: 2 rows; samples: `_source_file=" in orders
    text = json.dumps(payload)
    for repr_ in ("<NA>", "None", "NaT", "nan", "Timestamp("):
        assert repr_ not in text, repr_
    fields = [f["text"] for f in payload["blocks"][1]["fields"]]
    assert f"*Since*\n{LOADED_AT} UTC" in fields
    assert any(f.startswith("*Checked at*\n") and LOADED_AT not in f for f in fields)
    [button] = payload["blocks"][-1]["elements"]
    assert button["url"] == f"{DOCS_BASE}/data-docs/index.html"

    html, plain = _parts(gate.mail[0]["message"])
    assert f"bronze.customers: 3 checks failed, bad batch loaded {LOADED_AT} UTC" in plain
    assert "  - allowed_values on channel: 1 row; samples: fax" in plain
    assert (
        "<h3" in html and "segment" in html and f'href="{DOCS_BASE}/data-docs/index.html"' in html
    )
    assert "file://" not in text + html + plain and "localhost:8080" not in text + html + plain


def test_the_cli_says_which_checks_and_columns_failed(gate):
    out = gate.cli.stdout
    assert "failed  bronze.customers:allowed_values(segment)" in out
    assert "failed  bronze.orders:allowed_values(channel)" in out
    assert "1 alert(s)" in out
    assert "alert sent by slack" in gate.cli.stderr and "alert sent by email" in gate.cli.stderr


def test_a_check_on_a_pii_column_shows_masked_samples_in_every_consumer(gate, monkeypatch):
    """The column-mark path: expectations on PII columns (not in the default suites) keep only
    masked samples, while the same expectation on a non-PII column shows its values."""
    from ingestion.warehouse import connect
    from quality.alerting import gx_alerts
    from quality.alerts import to_email, to_slack
    from quality.gx_run import run_layer
    from quality.suites import Check, TableCheck, _file_filter

    for key in ("DUCKDB_PATH", "QUALITY_GX_ROOT", "QUALITY_DATA_DOCS_DIR", "PLATFORM_LOCAL_DIR"):
        monkeypatch.setenv(key, gate.env[key] + ("" if key == "DUCKDB_PATH" else "_pii"))
    monkeypatch.setenv("WAREHOUSE_TARGET", "duckdb")
    not_like = "expect_column_values_to_not_match_regex"
    table = TableCheck(
        "bronze.customers",
        f"select * from bronze.customers{_file_filter(None)}",
        [
            Check("no_victims", not_like, {"column": "email", "regex": "^victim"}, "email"),
            Check("no_dc_phones", not_like, {"column": "phone", "regex": "202-555"}, "phone"),
            Check("no_names", not_like, {"column": "first_name", "regex": "^Vic"}, "first_name"),
            Check("no_springfield", not_like, {"column": "city", "regex": "^Springf"}, "city"),
        ],
    )
    with connect() as wh:
        outcomes = {o.check: o for o in run_layer("bronze", [table], wh)}
    assert outcomes["no_victims"].unexpected_count == 2
    assert outcomes["no_victims"].samples == ("v***@e***.com",)
    assert outcomes["no_dc_phones"].samples == (MASK,)
    assert outcomes["no_names"].samples == (MASK,)
    assert outcomes["no_springfield"].samples == ("Springfield",)  # not PII: shown
    assert outcomes["no_victims"].loaded_at == datetime(2026, 1, 1, 3, tzinfo=UTC)
    [alert] = gx_alerts(list(outcomes.values()), "bronze")
    docs = Path(os.environ["QUALITY_DATA_DOCS_DIR"])
    shown = json.dumps(to_slack(alert)) + "".join(to_email(alert))
    shown += "\n".join(p.read_text() for p in docs.rglob("*.html") if "vendor" not in p.parts)
    assert not [s for s in SECRETS if s in shown]
    assert "Springfield" in shown and "v***@e***.com" in shown


# --------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_no_personal_value_leaks_from_the_gate_on_postgres(tmp_path, receivers):
    """GX's SQL route (query assets) masks the same way, and finds the load time too."""
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    name = f"pii_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        env = quality_env(tmp_path, tmp_path / "unused.duckdb")
        env.update(
            WAREHOUSE_TARGET="postgres",
            PGHOST=admin["host"],
            PGPORT=admin["port"],
            PGUSER=admin["user"],
            PGDATABASE=name,
        )
        conninfo = PostgresBackend.conninfo(env)
        with PostgresBackend("bronze", conninfo) as backend:
            report = load_files(backend, discover(bad_landing(tmp_path)))
        assert not report.failed
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"update bronze.customers set _loaded_at = timestamp '{LOADED_AT}'")
        gate = run_gate(env, receivers)
        assert gate.cli.returncode == 1, gate.cli.stdout + gate.cli.stderr[-3000:]
        with psycopg.connect(conninfo) as conn:
            results = conn.execute("select * from quality.check_results").fetchall()
        shown = {
            "cli": gate.cli.stdout + gate.cli.stderr,
            "slack": json.dumps(gate.slack, ensure_ascii=False),
            "email": "\n".join(_mail_text(m) for m in gate.mail),
            "check_results": json.dumps(results, default=str, ensure_ascii=False),
            "data_docs": "\n".join(p.read_text() for p in (tmp_path / "data_docs").rglob("*.html")),
        }
        leaks = {place: [s for s in SECRETS if s in text] for place, text in shown.items()}
        assert not {place: found for place, found in leaks.items() if found}
        assert "vip" in shown["slack"] and "vip" in shown["data_docs"]
        assert "v***@e***.com" in shown["check_results"]
        assert f"bad batch loaded {LOADED_AT} UTC" in shown["slack"]
        assert len(gate.slack) == len(gate.mail) == 1
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")
        shutil.rmtree(tmp_path / "data_docs", ignore_errors=True)


def test_results_stored_unmasked_before_are_masked_when_the_docs_are_rebuilt(gate, monkeypatch):
    """Results kept by an earlier version (no masking) lose their PII on `python -m quality docs`."""
    import quality.gx_run
    import quality.masking
    from ingestion.warehouse import connect
    from quality.suites import checks_for

    env = {**gate.env, "QUALITY_GX_ROOT": gate.env["QUALITY_GX_ROOT"] + "_old"}
    env["QUALITY_DATA_DOCS_DIR"] = gate.env["QUALITY_DATA_DOCS_DIR"] + "_old"
    for key in ("DUCKDB_PATH", "QUALITY_GX_ROOT", "QUALITY_DATA_DOCS_DIR", "WAREHOUSE_TARGET"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setattr(quality.masking, "install", lambda ctx: None)  # the old version
    customers = [t for t in checks_for("bronze", None) if t.suite == "bronze.customers"]
    with connect() as wh:
        quality.gx_run.run_layer("bronze", customers, wh)
    store = Path(env["QUALITY_GX_ROOT"]) / "gx"
    stored = "".join(p.read_text() for p in store.rglob("*.json"))
    assert EMAIL in stored  # the earlier version kept it: the test can fail

    done = subprocess.run(
        [PY, "-m", "quality", "docs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "masked personal data in 1 validation result(s) stored unmasked before" in done.stderr
    docs = Path(env["QUALITY_DATA_DOCS_DIR"])
    shown = "".join(p.read_text() for p in [*store.rglob("*.json"), *docs.rglob("*.html")])
    assert not [s for s in SECRETS if s in shown]
    assert "v***@e***.com" in shown and "vip" in shown
