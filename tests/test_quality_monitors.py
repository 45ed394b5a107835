"""The quality monitors against the incidents they exist for, on real warehouses.

One landing zone at scale 1 (50 days, seed 7) gets the realistic incidents of
``quality.monitors.drills`` written into its files before loading, on days of their own: a
ten-day creep of one facility's defect rate (days 30-39), a refund above what its line paid (40),
a delivery dated before its shipment (41), unit prices x100 (42), the web channel losing 40% of
its orders (44), one carrier's deliveries arriving 3 days late (45, moved to 48) and the last day
re-delivered as a copy of the day before with CRLF line endings (49). It is loaded with the real
loader, built by dbt, and each incident is asserted on the monitor that flags it (the structured
rows of ``quality.anomaly_results`` and the finding's key words; the alert layout is the alert
module's), on the business-rule dbt tests, and on days 14-29 staying quiet.

Then the first days: a day skipped by the loader (its files the same bytes as the day before's)
and the generator's ``volume_drop`` on three seeds, both from day 1 of a fresh warehouse; the
typed configuration; and one run of the monitors on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from dbt_support import run_dbt

from data_generator import generate
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files
from ingestion.warehouse import connect
from quality.anomalies import detect
from quality.monitors import Score, drills
from quality.monitors.detect import grouped

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
START = date(2026, 1, 1)
ALERT_VARS = ("SLACK_WEBHOOK_URL", "SMTP_HOST", "SMTP_TO", "QUALITY_DATA_DOCS_BASE_URL")


def day(k: int) -> date:
    """Day ``k`` of the company (day 0 is its first)."""
    return START + timedelta(days=k)


@dataclass
class Landed:
    landing: Path
    env: dict[str, str]
    work: Path

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(self.env["DUCKDB_PATH"], read_only=True) as con:
            return con.execute(sql).fetchall()

    def scores(self, d: date) -> list[Score]:
        with connect(self.env) as wh:
            return detect(wh, d)

    def quality(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PY, "-m", "quality", *args],
            cwd=ROOT,
            env=self.env,
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
    assert not report.failed, [f.message for f in report.failed]
    env = {k: v for k, v in os.environ.items() if k not in ALERT_VARS}
    env.update(
        WAREHOUSE_TARGET="duckdb",
        DUCKDB_PATH=str(db),
        PLATFORM_LOCAL_DIR=str(work / "local"),
        ALERT_STATE_PATH=str(work / "alerts.sqlite"),
    )
    return Landed(landing, env, work)


def _by_metric(scores: list[Score]) -> dict[str, Score]:
    return {s.metric: s for s in scores}


def _flagged(scores: list[Score]) -> set[str]:
    return {s.metric for s in scores if s.is_anomaly}


def _dbt_results(target: Path) -> dict[str, dict]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r for r in results}


# --------------------------------------------------------------------------- the incidents
@dataclass
class Incidents:
    landed: Landed
    drills: dict[str, drills.Drill]
    rules: dict[str, dict]  # business-rule dbt test results by test name
    current_rule_broken: dict  # the one-current-version rule after a second one was written


@pytest.fixture(scope="module")
def incidents(tmp_path_factory) -> Incidents:
    work = tmp_path_factory.mktemp("monitors_incidents")
    landing = work / "landing"
    generate(start=START, days=50, scale=1.0, seed=7, out=landing)
    done = {
        "defect_creep": drills.defect_creep(landing, day(30), facility_id=2, days=10, peak=3.0),
        "refund_above_paid": drills.refund_above_paid(landing, day(40)),
        "delivered_before_shipped": drills.delivered_before_shipped(landing, day(41)),
        "price_x100": drills.price_x100(landing, day(42)),
        "channel_loss": drills.channel_loss(landing, day(44), "web", share=0.4),
        "carrier_late": drills.carrier_late(landing, day(45), carrier_id=2, days=3),
        "redeliver": drills.redeliver(landing, day(49), line_endings="\r\n"),
    }
    landed = _land(work, landing)
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": landed.env["DUCKDB_PATH"]}
    built = run_dbt(work, env, "run", "--exclude", "tag:ml", threads=2)
    assert built.returncode == 0, built.stdout[-3000:]
    rules = ("test", "--select", "path:tests/business_rules")
    tested = run_dbt(work, env, *rules, threads=2)
    results = _dbt_results(work / "target")
    assert results, tested.stdout[-3000:]
    # the other direction of the one-current-version rule: a second current version of one
    # product in dim_product (a copy of its current row)
    with duckdb.connect(env["DUCKDB_PATH"]) as con:
        con.execute(
            "insert into marts.dim_product select * from marts.dim_product "
            "where is_current and product_id = (select min(product_id) from marts.dim_product)"
        )
    rule = "assert_one_current_version_per_key"
    run_dbt(work / "broken", env, "test", "--select", rule, threads=1)
    broken = _dbt_results(work / "broken" / "target")[rule]
    return Incidents(landed, done, results, broken)


def _alert(scores: list[Score]) -> str:
    """The anomaly alert of ``scores`` as the email's subject and plain-text part carry it."""
    from quality.alerting import anomaly_alerts
    from quality.alerts import to_email

    [alert] = anomaly_alerts(scores)
    subject, _html, plain = to_email(alert)
    return subject + "\n" + plain


def test_incidents_changed_what_they_say(incidents):
    d = incidents.drills
    assert d["price_x100"].rows > 3000  # a day of order lines at scale 1
    assert d["channel_loss"].rows == round(0.4 * d["channel_loss"].of)
    assert 200 < d["carrier_late"].rows < d["carrier_late"].of  # one carrier of five
    assert d["redeliver"].rows == 10  # every table with a daily file


def test_unit_price_x100_is_flagged_by_revenue_both_ways_and_the_list_price_rule(incidents):
    scores = _by_metric(incidents.landed.scores(day(42)))
    revenue = scores["revenue"]
    # revenue watches both directions: the spike is an anomaly (it was "down only" before)
    assert revenue.direction == "both"
    assert revenue.is_anomaly and revenue.z > 20
    assert revenue.value > 50 * revenue.baseline
    assert "revenue 2026-02-12:" in revenue.detail and "expected" in revenue.detail
    text = _alert(list(scores.values()))
    assert "revenue" in text.splitlines()[0]
    assert any(ln.lstrip("- ").startswith("day: ") and "expected (z +" in ln for ln in
               text.splitlines()), text  # fmt: skip
    # the business rule names every line: an error for the gross mix-up, a warning at tolerance
    near = incidents.rules["assert_unit_price_near_list_price"]
    exact = incidents.rules["assert_unit_price_is_list_price"]
    assert (near["status"], near["failures"]) == ("fail", incidents.drills["price_x100"].rows)
    assert exact["status"] == "warn"
    assert exact["failures"] == incidents.drills["price_x100"].rows


def test_channel_losing_40_percent_is_named_by_the_segment_monitor(incidents):
    scores = incidents.landed.scores(day(44))
    by = _by_metric(scores)
    web = by["orders[channel=web]"]
    assert web.family == "segment" and (web.dimension, web.segment) == ("channel", "web")
    assert web.is_anomaly and web.z < -5
    assert web.value < 0.75 * web.baseline
    assert 0.25 < web.share < 0.4  # web is about 46% of orders on a normal day
    # the move is the channel's: the company total and the other channels are not flagged
    assert not by["orders"].is_anomaly
    for other in ("mobile_app", "marketplace", "retail_partner"):
        assert not by[f"orders[channel={other}]"].is_anomaly, by[f"orders[channel={other}]"]
    line = next(g for g in grouped(scores) if g.startswith("orders by channel:"))
    assert line.startswith("orders by channel: web ") and "of the total" in line
    # the alert sent: one group for the channel dimension naming the segment that moved, its value,
    # expected value, z and share, and a link to the segment's series
    text = _alert(scores)
    print(text)
    assert "orders by channel" in text.splitlines()[0]
    web_line = next(ln for ln in text.splitlines() if ln.lstrip("-• ").startswith("web"))
    assert "expected (z -" in web_line and "of the total" in web_line, web_line
    assert "/anomalies?metric=orders%5Bchannel%3Dweb%5D" in text


def test_carrier_three_days_late_shows_as_missing_then_late_deliveries(incidents):
    carrier = "Continental Freight"  # carrier_id 2
    on_the_day = _by_metric(incidents.landed.scores(day(45)))
    missing = on_the_day[f"deliveries[carrier={carrier}]"]
    assert missing.is_anomaly and missing.value == 0 and missing.baseline > 100
    three_days_on = _by_metric(incidents.landed.scores(day(48)))
    late = three_days_on[f"on_time_rate[carrier={carrier}]"]
    assert late.is_anomaly and late.value < late.baseline - 0.15
    assert late.direction == "drop"  # more deliveries on time is good news (config reason)
    for scored, words in (
        (on_the_day, "deliveries by carrier"),
        (three_days_on, "on_time_rate by carrier"),
    ):
        text = _alert(list(scored.values()))
        assert words in text, text
        assert f"{carrier}: " in text and "expected (z -" in text


def test_ten_day_defect_creep_of_one_facility_is_caught_by_the_weekly_monitor(incidents):
    facility = "weekly:defect_rate[facility=Reno Assembly]"
    before = _by_metric(incidents.landed.scores(day(29)))
    assert before[facility].status == "ok"  # watched, quiet before the creep
    # a day at a time a facility's defect rate rests on a few lots: not scored daily
    assert before["defect_rate"].status == "low_volume"
    # the 7-day window catches it by the end of the ten days
    last = [_by_metric(incidents.landed.scores(day(k)))[facility] for k in (37, 38, 39)]
    creep = max(last, key=lambda s: s.z)
    assert creep.is_anomaly and creep.z > creep.threshold
    assert creep.value > 1.8 * creep.baseline
    assert creep.family == "weekly" and creep.detail.startswith(f"{facility} 7 days:")
    text = _alert([creep])
    assert "weekly: defect_rate by facility" in text.splitlines()[0]
    assert "Reno Assembly: " in text and "/anomalies?metric=weekly%3Adefect_rate" in text


def test_redelivered_day_with_other_line_endings_is_a_drop_and_a_stale_file(incidents):
    scores = _by_metric(incidents.landed.scores(day(49)))
    for table in ("orders", "order_lines", "shipments"):
        rows = scores[f"rows_{table}"]
        assert rows.is_anomaly and rows.value == 0, rows  # no key of that day is new
    text = _alert(list(scores.values()))
    assert "rows_orders" in text and "0 vs " in text
    # its files loaded (other bytes): the files monitor is satisfied, the rows are not
    assert scores["files:orders"].status == "ok"
    stale = incidents.rules["assert_file_carries_its_day_events"]
    assert stale["status"] == "warn"
    with duckdb.connect(incidents.landed.env["DUCKDB_PATH"], read_only=True) as con:
        with_rows = con.execute(
            "select count(*) from bronze._load_audit where file_path like ? and rows_loaded > 0",
            [f"%{day(49).isoformat()}.csv"],
        ).fetchall()[0][0]
    assert stale["failures"] == with_rows > 5


def test_refund_and_delivery_rules_fail_on_the_injected_rows_only(incidents):
    for rule in ("assert_refunds_not_above_line_paid", "assert_delivered_after_shipped"):
        got = incidents.rules[rule]
        assert (got["status"], got["failures"]) == ("fail", 1), got
    current = incidents.rules["assert_one_current_version_per_key"]
    assert (current["status"], current["failures"]) == ("pass", 0)
    broken = incidents.current_rule_broken
    assert broken["status"] == "fail" and broken["failures"] == 1


def test_monitors_stay_quiet_on_the_clean_days(incidents):
    quiet, scored = [], 0
    for k in range(14, 30):
        for s in incidents.landed.scores(day(k)):
            scored += s.status in ("ok", "anomaly")
            if s.is_anomaly:
                quiet.append((k, s.metric, s.z))
    families = {s.family for s in incidents.landed.scores(day(29)) if s.status == "ok"}
    assert families == {"day", "segment", "weekly", "files"}
    assert scored > 16 * 60
    assert quiet == []


def test_cli_writes_charted_rows_with_segment_columns_and_exits_1(incidents):
    landed = incidents.landed
    for k in (43, 44):
        done = landed.quality("anomalies", "--date", day(k).isoformat())
        assert done.returncode == (1 if k == 44 else 0), done.stdout + done.stderr[-2000:]
    assert "anomaly  orders by channel: web " in done.stdout
    assert f"quality anomalies {day(44)} (logical date)" in done.stdout
    rows = landed.query(
        "select day, family, dimension, segment, is_anomaly, share from quality.anomaly_results "
        "where metric = 'orders[channel=web]' order by day"
    )
    assert [r[:5] for r in rows] == [
        (day(43), "segment", "channel", "web", False),
        (day(44), "segment", "channel", "web", True),
    ]
    assert all(0 < r[5] < 1 for r in rows)
    families = landed.query(
        "select family, count(*) from quality.anomaly_results where day = "
        f"date '{day(44)}' group by 1 order by 1"
    )
    assert [f for f, _ in families] == ["day", "files", "segment", "weekly"]


# --------------------------------------------------------------------------- the first days
@pytest.fixture(scope="module")
def skipped_day(tmp_path_factory) -> Landed:
    """22 days from day 1; the last day's files are the day before's bytes (all skipped)."""
    work = tmp_path_factory.mktemp("monitors_skipped")
    landing = work / "landing"
    generate(start=START, days=22, scale=0.3, seed=2024, out=landing)
    drills.redeliver(landing, day(21), line_endings=None)
    return _land(work, landing)


def test_the_anomaly_check_scores_the_skipped_day_not_the_day_before(skipped_day):
    done = skipped_day.quality("anomalies")
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    assert f"quality anomalies {day(21)} (newest batch day)" in done.stdout
    assert "anomaly  files:orders 2026-01-22: no newly loaded file (its file was skipped" in (
        done.stdout
    )
    flagged = {
        m
        for (m,) in skipped_day.query(
            f"select metric from quality.anomaly_results where day = date '{day(21)}' "
            "and is_anomaly"
        )
    }
    for table in ("orders", "order_lines", "customers", "shipments"):
        assert f"files:{table}" in flagged
    assert {"rows_orders", "rows_order_lines"} <= flagged
    # products' header-only files load by name: a quiet table is not a missing one
    assert "files:products" not in flagged


def test_the_logical_date_is_scored_and_a_date_past_the_data_says_so(skipped_day):
    from quality.tasks import anomaly_day

    with connect(skipped_day.env) as wh:
        assert anomaly_day(wh, day(20)) == (day(20), "logical date")
        assert anomaly_day(wh, None) == (day(21), "newest batch day")
        scored, why = anomaly_day(wh, day(22))
    assert scored == day(21) and "after every loaded file" in why
    before = skipped_day.quality("anomalies", "--date", day(20).isoformat())
    assert before.returncode == 0, before.stdout + before.stderr[-2000:]
    assert "  anomaly  " not in before.stdout


def test_an_asset_triggered_run_scores_every_day_since_the_last_scored_one(
    skipped_day, tmp_path, monkeypatch
):
    """Airflow queues a catch-up's bronze updates into fewer quality runs: each must score the
    days loaded since the last scored day, not only the newest."""
    import shutil

    from quality.tasks import check_anomalies, unscored_days

    copy = tmp_path / "wh.duckdb"
    shutil.copy(skipped_day.env["DUCKDB_PATH"], copy)
    for key, value in {**skipped_day.env, "DUCKDB_PATH": str(copy)}.items():
        monkeypatch.setenv(key, value)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop table if exists quality.anomaly_results")
    assert unscored_days(None) == []  # nothing scored yet: the newest day only
    assert unscored_days(day(17)) == []  # a run with a logical date scores that date only
    check_anomalies(day(17), send=lambda alert: None)
    assert unscored_days(None) == [day(18), day(19), day(20)]  # then day(21), the newest
    for d in unscored_days(None):
        check_anomalies(d, send=lambda alert: None)
    check_anomalies(None, send=lambda alert: None)
    with duckdb.connect(str(copy), read_only=True) as con:
        days = [d for (d,) in con.execute(
            "select distinct day from quality.anomaly_results order by 1"
        ).fetchall()]  # fmt: skip
    assert days == [day(17), day(18), day(19), day(20), day(21)]
    assert unscored_days(None) == []


def test_an_empty_warehouse_is_an_error_not_a_clean_day(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ALERT_VARS}
    env.update(WAREHOUSE_TARGET="duckdb", DUCKDB_PATH=str(tmp_path / "empty.duckdb"))
    done = Landed(tmp_path, env, tmp_path).quality("anomalies", "--date", day(20).isoformat())
    assert done.returncode == 1
    assert "bronze._load_audit names no file: load a batch" in done.stderr


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_volume_drop_is_caught_from_day_1_on_every_seed(tmp_path, seed):
    landing = tmp_path / "landing"
    generate(start=START, days=21, scale=0.5, seed=seed, out=landing, faults="volume_drop")
    faults = json.loads((landing / "_faults.json").read_text())["faults"]
    (drop,) = {date.fromisoformat(Path(f["file"]).stem) for f in faults}
    assert drop >= day(14)  # two weeks of history at most: a fresh warehouse
    landed = _land(tmp_path, landing)
    scores = _by_metric(landed.scores(drop))
    for metric in ("rows_orders", "rows_order_lines"):
        assert scores[metric].is_anomaly, scores[metric]
        assert scores[metric].value < 0.5 * scores[metric].baseline
    assert _flagged(landed.scores(drop - timedelta(days=1))) == set()


# --------------------------------------------------------------------------- configuration
def test_configuration_errors_name_the_supported_values():
    import re

    from quality.monitors.settings import ConfigError, anomaly_settings
    from quality.settings import config

    cases = [
        (
            {"metrics": {"revenue": {"direction": "down"}}},
            "anomalies.metrics.revenue.direction='down' is not one of both, drop, spike",
        ),
        ({"metrics": {"revenue": {"direction": "drop"}}}, "say why the other way is harmless"),
        (
            {"metrics": {"revnue": {}}},
            "anomalies.metrics.revnue is not a known key: use one of orders",
        ),
        ({"day": {"treshold": 4}}, "anomalies.day.treshold is not a known key"),
        ({"day": {"threshold": "high"}}, "anomalies.day.threshold='high' is not a number"),
        (
            {"segments": {"dimensions": {"carrier": ["orders"]}}},
            "anomalies.segments.dimensions.carrier[0]='orders' is not one of shipments, "
            "deliveries, on_time_rate",
        ),
        (
            {"segments": {"dimensions": {"colour": []}}},
            "anomalies.segments.dimensions.colour is not a known key: use one of carrier, category",
        ),
        ({"severity": "fatal"}, "anomalies.severity='fatal' is not one of error, warning"),
    ]
    for raw, message in cases:
        with pytest.raises(ConfigError, match=re.escape(message)):
            anomaly_settings(raw)
    shipped = config().anomalies
    assert shipped.rule("revenue").direction == "both"
    assert shipped.rule("on_time_rate").reason  # one direction only, with the reason beside it


def test_direction_decides_which_way_is_an_anomaly():
    from quality.monitors.scoring import breaches

    assert breaches(-6, 5, "both") and breaches(6, 5, "both")
    assert breaches(-6, 5, "drop") and not breaches(6, 5, "drop")
    assert breaches(6, 5, "spike") and not breaches(-6, 5, "spike")
    # a halved total is an anomaly at a lower z, a 40% dip is not
    assert breaches(-4.2, 5, "both", ratio=0.3, max_ratio=2, ratio_z=4)
    assert not breaches(-4.2, 5, "both", ratio=0.6, max_ratio=2, ratio_z=4)


# --------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_monitors_run_on_postgres(tmp_path):
    """One run on PostgreSQL: a fresh database, loaded, built by dbt, scored by the CLI."""
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    landing = tmp_path / "landing"
    generate(start=START, days=30, scale=0.3, seed=5, out=landing)
    drills.price_x100(landing, day(29))
    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    name = f"monitors_{uuid.uuid4().hex[:10]}"
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
            ALERT_STATE_PATH=str(tmp_path / "alerts.sqlite"),
        )
        conninfo = PostgresBackend.conninfo(env)
        with PostgresBackend("bronze", conninfo) as backend:
            assert not load_files(backend, discover(landing)).failed
        facts = "+fct_orders +fct_order_lines +fct_shipments +fct_returns"
        built = run_dbt(tmp_path, env, "run", "--select", *facts.split(), threads=2)
        assert built.returncode == 0, built.stdout[-3000:]
        landed = Landed(landing, env, tmp_path)
        done = landed.quality("anomalies", "--date", day(29).isoformat())
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]
        assert "anomaly  revenue 2026-01-30:" in done.stdout
        with psycopg.connect(conninfo) as conn:
            rows = conn.execute(
                "select family, count(*), bool_or(is_anomaly), count(segment) "
                "from quality.anomaly_results group by 1 order by 1"
            ).fetchall()
        by = {f: (n, hit, segments) for f, n, hit, segments in rows}
        assert by["day"][1] is True
        assert by["segment"][0] == by["segment"][2] > 10  # every segment row names its segment
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def test_anomaly_results_gains_the_columns_an_older_table_lacks_and_nothing_else(tmp_path):
    """A table an older release wrote gets the missing columns (no ``if not exists``, which
    Spark and Databricks do not parse); a current table gets no statement at all."""
    from ingestion.backends import engine
    from ingestion.config import Settings
    from quality import anomalies

    wh = engine("duckdb").warehouse(Settings.from_env({"DUCKDB_PATH": str(tmp_path / "w.duckdb")}))
    try:
        wh.execute("create schema quality")
        wh.execute("create table quality.anomaly_results (day date, metric varchar)")
        anomalies.ensure_table(wh)
        assert sorted(wh.columns("quality", "anomaly_results")) == sorted(
            c for c, _ in anomalies.COLUMNS
        )
        sent: list[str] = []
        execute = wh.execute
        wh.execute = lambda sql: (sent.append(sql), execute(sql))[1]
        anomalies.ensure_table(wh)
        assert not [s for s in sent if s.startswith("alter")], sent
    finally:
        wh.close()
