"""Loading the landing zone into bronze, on DuckDB and on the local PostgreSQL server."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from ingestion.contracts import CONTRACTS
from ingestion.landing import LandingFile, discover
from ingestion.loader import load_files as _load_files


def load_files(backend, files, **kw):
    """Files written by hand here carry no readiness manifest (tests/test_ingestion_hostile.py
    covers the readiness rule)."""
    return _load_files(backend, files, require_manifest=False, **kw)


REASON = {
    "null_key": "null key",
    "unparseable_value": "does not parse",
    "wrong_field_count": "wrong field count",
    "unclosed_quote": "unclosed quote",
}


def _load(warehouse, landing: Path, **kw):
    with warehouse.backend() as backend:
        return load_files(backend, discover(landing, **kw))


def test_fault_injected_batch_quarantines_each_parse_fault_on_its_line(warehouse, faulty_landing):
    report = _load(warehouse, faulty_landing)
    assert not report.failed
    faults = json.loads((faulty_landing / "_faults.json").read_text())["faults"]
    expected = {(f["file"], f["line"]): f for f in faults if f["fault"] in REASON}
    rejects = {
        (r[0], r[1]): r
        for r in warehouse.query(
            "select file_path, line_number, column_name, reason, raw_line from bronze._rejects"
        )
    }
    assert len(expected) > 100
    assert set(rejects) == set(expected)
    for key, fault in expected.items():
        _, _, column, reason, raw = rejects[key]
        assert REASON[fault["fault"]] in reason, (key, fault, reason)
        if fault["fault"] in ("null_key", "unparseable_value", "unclosed_quote"):
            assert column == fault["column"], (key, fault, reason)
        lines = (faulty_landing / key[0]).read_text(encoding="utf-8").split("\n")
        assert raw == lines[key[1] - 1]


def test_counts_reconcile_for_every_file_and_clean_rows_are_all_loaded(warehouse, faulty_landing):
    _load(warehouse, faulty_landing)
    manifest = json.loads((faulty_landing / "_manifest.json").read_text())["files"]
    audit = {
        r[0]: r[1:]
        for r in warehouse.query(
            "select file_path, rows_read, rows_loaded, rows_rejected, status "
            "from bronze._load_audit"
        )
    }
    assert set(audit) == set(manifest)
    for path, (read, loaded, rejected, status) in audit.items():
        assert status == "loaded"
        assert read == manifest[path] == loaded + rejected, path
    # every line that is not rejected is in bronze, once, at its own line number
    rejected = {
        (r[0], r[1]) for r in warehouse.query("select file_path, line_number from bronze._rejects")
    }
    for table in CONTRACTS:
        loaded = {
            (r[0], r[1])
            for r in warehouse.query(f"select _source_file, _source_line from bronze.{table}")
        }
        count = warehouse.scalar(f"select count(*) from bronze.{table}")
        assert count == len(loaded), table
        expected = {
            (path, line)
            for path, rows in manifest.items()
            if path.startswith(f"{table}/")
            for line in range(2, rows + 2)
            if (path, line) not in rejected
        }
        assert loaded == expected, table


def test_loaded_values_match_the_file_line_they_came_from(warehouse, clean_landing):
    _load(
        warehouse,
        clean_landing,
        tables=["orders", "shipments"],
        start=date(2026, 1, 3),
        end=date(2026, 1, 4),
    )
    rows = warehouse.query(
        "select _source_file, _source_line, order_id, status, cast(updated_at as varchar) "
        "from bronze.orders order by _source_file, _source_line"
    )
    assert len(rows) > 100
    for path, line, order_id, status, updated in rows[::17]:
        raw = (clean_landing / path).read_text().split("\n")[line - 1].split(",")
        assert raw[0] == str(order_id)
        assert raw[4] == f'"{status}"'
        assert raw[5] == updated[:19]
    null_delivered = warehouse.scalar(
        "select count(*) from bronze.shipments where status = 'in_transit' "
        "and delivered_at is not null"
    )
    assert null_delivered == 0


def test_reloading_is_a_no_op_and_the_audit_shows_skips(warehouse, clean_landing):
    first = _load(warehouse, clean_landing, start=date(2026, 1, 1), end=date(2026, 1, 3))
    counts = {t: warehouse.scalar(f"select count(*) from bronze.{t}") for t in CONTRACTS}
    second = _load(warehouse, clean_landing, start=date(2026, 1, 1), end=date(2026, 1, 3))
    assert first.count("loaded") == len(first.results) > 30
    assert second.count("skipped") == len(second.results) == len(first.results)
    assert second.rows_loaded == 0
    assert counts == {t: warehouse.scalar(f"select count(*) from bronze.{t}") for t in CONTRACTS}
    statuses = dict(
        warehouse.query("select status, count(*) from bronze._load_audit group by status")
    )
    assert statuses == {"loaded": len(first.results), "skipped": len(first.results)}


def test_a_range_load_adds_only_the_new_days(warehouse, clean_landing):
    _load(warehouse, clean_landing, start=date(2026, 1, 1), end=date(2026, 1, 2))
    before = warehouse.scalar("select count(*) from bronze.order_lines")
    report = _load(warehouse, clean_landing, start=date(2026, 1, 1), end=date(2026, 1, 3))
    after = warehouse.scalar("select count(*) from bronze.order_lines")
    day3 = (clean_landing / "order_lines/2026-01-03.csv").read_text().count("\n") - 1
    assert after - before == day3 > 0
    assert {r.file.day for r in report.results if r.status == "loaded"} == {date(2026, 1, 3)}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "file does not exist"),
        (b"", "file is empty"),
        (
            "order_id,customer_id,ordered_at,channel,status,updated_at\n1,2,2026-01-01 00:00:00,"
            '"caf\xe9","placed",2026-01-01 00:00:00\n'.encode("latin-1"),
            "not UTF-8",
        ),
        (
            b'order_id,customer_id,channel,status,updated_at\n1,2,"web","placed",2026-01-01\n',
            "lacks required column(s) ordered_at",
        ),
        (
            b"order_id,order_id,customer_id,ordered_at,channel,status,updated_at\n",
            "more than once: order_id",
        ),
    ],
    ids=["missing", "empty", "latin-1", "missing-column", "duplicate-column"],
)
def test_unreadable_file_fails_naming_the_file_and_loads_nothing(
    warehouse, tmp_path, content, problem
):
    path = tmp_path / "orders" / "2026-01-01.csv"
    path.parent.mkdir()
    if content is not None:
        path.write_bytes(content)
    with warehouse.backend() as backend:
        report = load_files(backend, [LandingFile("orders", date(2026, 1, 1), path)])
    assert report.count("failed") == 1
    message = report.results[0].message
    assert str(path) in message and problem in message
    assert warehouse.scalar("select count(*) from bronze.orders") == 0
    audit = warehouse.query("select status, message from bronze._load_audit")
    assert audit[0][0] == "failed" and problem in audit[0][1]


def test_schema_drift_extra_column_is_ignored_and_recorded(warehouse, tmp_path):
    path = tmp_path / "orders" / "2026-01-01.csv"
    path.parent.mkdir()
    path.write_text(
        "order_id,customer_id,coupon_code,ordered_at,channel,status,updated_at\n"
        '1,7,"SAVE10",2026-01-01 10:00:00,"web","placed",2026-01-01 10:00:00\n'
        '2,8,,2026-01-01 11:00:00,"web","placed",2026-01-01 11:00:00\n'
    )
    with warehouse.backend() as backend:
        report = load_files(backend, [LandingFile("orders", date(2026, 1, 1), path)])
    assert report.results[0].status == "loaded"
    assert warehouse.query(
        "select order_id, customer_id, channel from bronze.orders order by order_id"
    ) == [(1, 7, "web"), (2, 8, "web")]
    drift = warehouse.scalar("select schema_drift from bronze._load_audit")
    assert "coupon_code" in drift


def test_missing_optional_column_loads_as_null(warehouse, tmp_path):
    path = tmp_path / "delivery_feedback" / "2026-01-01.csv"
    path.parent.mkdir()
    path.write_text(
        "feedback_id,shipment_id,order_id,customer_id,submitted_at,rating\n"
        "1,2,3,4,2026-01-01 10:00:00,5\n"
    )
    with warehouse.backend() as backend:
        load_files(backend, [LandingFile("delivery_feedback", date(2026, 1, 1), path)])
    assert warehouse.query("select rating, comment from bronze.delivery_feedback") == [(5, None)]
    assert "comment" in warehouse.scalar("select schema_drift from bronze._load_audit")


def test_an_unclosed_quote_does_not_swallow_the_next_row(warehouse, tmp_path):
    path = tmp_path / "orders" / "2026-01-01.csv"
    path.parent.mkdir()
    path.write_text(
        "order_id,customer_id,ordered_at,channel,status,updated_at\n"
        '1,7,2026-01-01 10:00:00,"web","placed",2026-01-01 10:00:00\n'
        '2,7,2026-01-01 10:00:00,"web","placed,2026-01-01 10:00:00\n'
        '3,7,2026-01-01 11:00:00,"web","placed",2026-01-01 11:00:00\n'
        '4,7,2026-01-01 12:00:00,"web,"placed",2026-01-01 12:00:00\n'
        '5,7,2026-01-01 13:00:00,"web","placed",2026-01-01 13:00:00\n'
    )
    with warehouse.backend() as backend:
        report = load_files(backend, [LandingFile("orders", date(2026, 1, 1), path)])
    assert (report.rows_loaded, report.rows_rejected) == (3, 2)
    assert warehouse.query("select order_id, _source_line from bronze.orders order by 1") == [
        (1, 2),
        (3, 4),
        (5, 6),
    ]
    assert [
        r[0] for r in warehouse.query("select line_number from bronze._rejects order by 1")
    ] == [3, 5]


def test_trailing_empty_fields_are_a_wrong_field_count(warehouse, tmp_path):
    path = tmp_path / "order_lines" / "2026-01-01.csv"
    path.parent.mkdir()
    path.write_text(
        "order_line_id,order_id,product_id,quantity,unit_price,discount_amount\n"
        "1,1,1,2,10.00,0.00\n"
        "2,1,1,2,10.00,0.00,\n"
        "3,1,1,2,10.00,\n"
    )
    with warehouse.backend() as backend:
        report = load_files(backend, [LandingFile("order_lines", date(2026, 1, 1), path)])
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    reasons = dict(warehouse.query("select line_number, reason from bronze._rejects"))
    assert "wrong field count" in reasons[3]
    assert "discount_amount" not in reasons[3]
    assert (
        warehouse.scalar("select count(*) from bronze.order_lines where discount_amount is null")
        == 1
    )  # line 4: an empty required field loads as null


def test_bronze_tables_carry_contract_columns_and_load_metadata(warehouse, clean_landing):
    _load(warehouse, clean_landing, start=date(2026, 1, 1), end=date(2026, 1, 1))
    row = warehouse.query(
        "select _batch_id, _source_file, _source_line, _loaded_at from bronze.customers limit 1"
    )
    assert row[0][1] == "customers/2026-01-01.csv" and row[0][2] >= 2 and row[0][3] is not None


def test_sample_copy_loads_cleanly(warehouse, tmp_path):
    """The committed sample: no rejects, nothing failed."""
    landing = tmp_path / "landing"
    shutil.copytree(Path(__file__).resolve().parent.parent / "sample_data", landing)
    report = _load(warehouse, landing)
    assert not report.failed and report.rows_rejected == 0
    assert report.rows_loaded == sum(
        json.loads((landing / "_manifest.json").read_text())["files"].values()
    )
