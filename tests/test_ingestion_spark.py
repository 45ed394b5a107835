"""The Spark backend on a real local pyspark session (runs when the spark extra is installed)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ingestion.landing import discover
from ingestion.loader import load_files

pytestmark = [pytest.mark.spark, pytest.mark.slow]
pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark_backend(tmp_path_factory):
    from ingestion.backends.spark import SparkBackend

    root = tmp_path_factory.mktemp("spark")
    env = {
        "SPARK_WAREHOUSE_DIR": str(root / "warehouse"),
        "SPARK_METASTORE_DIR": str(root / "metastore"),
    }
    backend = SparkBackend("bronze_spark_test", env)
    yield backend
    backend.close()
    backend.spark.stop()


def test_spark_load_reconciles_rejects_and_reloads_as_a_no_op(spark_backend, faulty_landing):
    files = discover(
        faulty_landing, ["orders", "order_lines", "customers"], date(2026, 1, 1), date(2026, 1, 3)
    )
    report = load_files(spark_backend, files)
    assert not report.failed and report.rows_rejected > 0
    q = spark_backend.query
    audit = q(
        "select file_path, rows_read, rows_loaded, rows_rejected "
        "from bronze_spark_test._load_audit where status = 'loaded'"
    )
    manifest = json.loads((faulty_landing / "_manifest.json").read_text())["files"]
    assert len(audit) == len(files)
    for path, read, loaded, rejected in audit:
        assert read == manifest[path] == loaded + rejected
        assert (
            q(
                f"select count(*) from bronze_spark_test.{path.split('/')[0]} "
                f"where _source_file = '{path}'"
            )[0][0]
            == loaded
        )
        assert (
            q(f"select count(*) from bronze_spark_test._rejects where file_path = '{path}'")[0][0]
            == rejected
        )
    faults = json.loads((faulty_landing / "_faults.json").read_text())["faults"]
    wanted = {
        (f["file"], f["line"])
        for f in faults
        if f["stage"] == "ingestion"
        and f["line"]
        and f["fault"] != "schema_drift"
        and f["file"] in {x.name for x in files}
    }
    got = set(q("select file_path, line_number from bronze_spark_test._rejects"))
    assert wanted == got
    again = load_files(spark_backend, files)
    assert again.count("skipped") == len(files)


def test_a_retry_after_a_crash_replaces_the_file_rows(spark_backend, clean_landing, monkeypatch):
    files = discover(clean_landing, ["order_lines"], date(2026, 1, 5), date(2026, 1, 5))
    original = spark_backend._append_audit

    def crash(audits):
        raise KeyboardInterrupt("killed before the audit row")

    monkeypatch.setattr(spark_backend, "_append_audit", crash)
    with pytest.raises(KeyboardInterrupt):
        load_files(spark_backend, files)
    monkeypatch.setattr(spark_backend, "_append_audit", original)
    report = load_files(spark_backend, files)
    assert report.count("loaded") == 1
    rows = spark_backend.query(
        "select count(*), count(distinct order_line_id) from bronze_spark_test.order_lines "
        "where _source_file = 'order_lines/2026-01-05.csv'"
    )[0]
    assert rows[0] == rows[1] == report.rows_loaded > 0


# ------------------------------------------------------------------ many files, one commit
def _files_of(backend, table: str) -> int:
    """Parquet files the table holds (every write adds its own)."""
    location = backend.spark.sql(f"describe table extended {backend.schema}.{table}")
    path = next(r[1] for r in location.collect() if r[0] == "Location")
    root = Path(path.removeprefix("file:"))
    return sum(1 for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))


def test_a_group_of_files_is_written_in_one_commit_per_table(spark_backend, clean_landing):
    tables = ["waste_events", "returns", "quality_inspections"]
    files = discover(clean_landing, tables, date(2026, 1, 10), date(2026, 1, 16))
    spark_backend.ensure_schema()
    audit_before = _files_of(spark_backend, "_load_audit")
    report = load_files(spark_backend, files)
    assert report.count("loaded") == len(files) > len(tables), report.results
    # one audit write per table (each write is at most one file per task, two at local[2]);
    # a write per file, as before, would add at least one file per landing file
    added = _files_of(spark_backend, "_load_audit") - audit_before
    assert 0 < added <= 2 * len(tables) < len(files), added
    for table, wanted in report.by_table().items():
        got = spark_backend.query(
            f"select count(*), count(distinct _source_file) from {spark_backend.schema}.{table} "
            "where _batch_id = :batch",
            {"batch": report.batch_id},
        )[0]
        with_rows = sum(1 for r in report.results if r.table == table and r.rows_loaded)
        assert got == (wanted["rows_loaded"], with_rows), table


def test_a_failed_group_commit_fails_its_files_with_the_reason_and_the_next_run_loads_them(
    spark_backend, clean_landing, monkeypatch
):
    files = discover(clean_landing, ["shipments"], date(2026, 1, 20), date(2026, 1, 24))
    monkeypatch.setitem(spark_backend.env, "SPARK_LOAD_BATCH_FILES", "2")  # groups of 2, 2, 1
    original, calls = spark_backend._append_audit, []

    def full_disk_once(audits):  # the first group's audit write fails, as on a full disk
        calls.append(len(audits))
        if len(calls) == 1:
            raise OSError("No space left on device")
        return original(audits)

    monkeypatch.setattr(spark_backend, "_append_audit", full_disk_once)
    report = load_files(spark_backend, files)
    statuses = [r.status for r in report.results]
    assert statuses == ["failed", "failed", "loaded", "loaded", "loaded"], report.results
    for result in report.failed:
        assert result.message.startswith(str(result.file.path))
        assert "No space left on device" in result.message
    failed = spark_backend.query(
        f"select file_path, message from {spark_backend.schema}._load_audit "
        "where status = 'failed' and batch_id = :batch order by 1",
        {"batch": report.batch_id},
    )
    assert [f for f, _ in failed] == [r.file.name for r in report.failed]
    assert all("No space left on device" in m for _, m in failed)
    # the next run loads the two failed files, replacing whatever rows the failed group wrote
    monkeypatch.setattr(spark_backend, "_append_audit", original)
    again = load_files(spark_backend, files)
    assert [r.status for r in again.results] == [
        "loaded",
        "loaded",
        "skipped",
        "skipped",
        "skipped",
    ]
    for result in [*again.results[:2], *report.results[2:]]:
        got = spark_backend.query(
            f"select count(*), count(distinct shipment_id) from {spark_backend.schema}.shipments "
            "where _source_file = :name",
            {"name": result.file.name},
        )[0]
        assert got[0] == got[1] == result.rows_loaded > 0, result.file.name


# ------------------------------------------------------------------ hostile input, one verdict
def test_spark_hostile_header_names_are_data_and_a_new_version_replaces_the_old(
    spark_backend, tmp_path
):
    from test_ingestion_hostile import GOOD_ORDER, ORDERS_HEADER

    from ingestion.landing import LandingFile

    schema = spark_backend.schema
    canary = tmp_path / "pwned"
    names = [
        f"x`; drop table {schema}.orders; --",
        f"x'); insert overwrite directory '{canary}' select 1; select ('",
        "a;b--c/*d*/",
    ]
    header = ORDERS_HEADER + "," + ",".join(f'"{n}"' for n in names)
    path = tmp_path / "orders" / "2026-02-01.csv"
    path.parent.mkdir()
    path.write_text(
        "\n".join([header, *(GOOD_ORDER.format(id=i) + ",v,v,v" for i in (901, 902, 903))]) + "\n"
    )
    file = LandingFile("orders", date(2026, 2, 1), path)
    report = load_files(spark_backend, [file], require_manifest=False)
    assert report.count("loaded") == 1, report.results
    assert not canary.exists()
    rows = spark_backend.query(
        f"select order_id from {schema}.orders where _source_file = 'orders/2026-02-01.csv' "
        "order by 1"
    )
    assert rows == [(901,), (902,), (903,)]
    drift = spark_backend.query(
        f"select schema_drift from {schema}._load_audit where file_path = 'orders/2026-02-01.csv'"
    )[0][0]
    assert "drop table" in drift
    # re-delivered with other content: replaces, the old audit row is superseded
    path.write_text(ORDERS_HEADER + "\n" + GOOD_ORDER.format(id=904) + "\n")
    again = load_files(spark_backend, [file], require_manifest=False)
    assert again.results[0].replaced
    assert spark_backend.query(
        f"select order_id from {schema}.orders where _source_file = 'orders/2026-02-01.csv'"
    ) == [(904,)]
    assert sorted(
        spark_backend.query(
            f"select status from {schema}._load_audit where file_path = 'orders/2026-02-01.csv'"
        )
    ) == [("loaded",), ("superseded",)]


def test_spark_stores_exactly_the_values_duckdb_and_postgres_store(spark_backend, tmp_path):
    from test_ingestion_values import CORPUS, REJECT

    from ingestion.landing import LandingFile

    table = "quality_inspections"
    header = (
        "inspection_id,product_id,facility_id,inspected_at,lot_size,sample_size,defects_found,"
        "result"
    )
    cases = [(t, w) for k, t, w in CORPUS if k == "timestamp"]
    lines = [header] + [
        f'{i},1,1,{text},100,10,0,"pass"' for i, (text, _) in enumerate(cases, 10_001)
    ]
    path = tmp_path / table / "2026-02-02.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    report = load_files(
        spark_backend, [LandingFile(table, date(2026, 2, 2), path)], require_manifest=False
    )
    assert not report.failed
    stored = dict(
        spark_backend.query(
            f"select inspection_id, inspected_at from {spark_backend.schema}.{table} "
            "where inspection_id > 10000"
        )
    )
    for i, (text, want) in enumerate(cases, 10_001):
        if want is REJECT:
            assert i not in stored, text
        else:
            assert stored[i] == want, (text, stored.get(i))


def test_two_spark_loaders_started_together_load_each_file_once(clean_landing, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "spark",
        "BRONZE_SCHEMA": "bronze_race",
        "SPARK_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "SPARK_METASTORE_DIR": str(tmp_path / "metastore"),
        "LANDING_DIR": str(clean_landing),
    }
    cmd = [sys.executable, "-m", "ingestion", "load", "--date", "2026-01-02", "--tables",
           "orders,order_lines", "--quiet"]  # fmt: skip
    procs = [
        subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    summaries = sorted(o[0].strip().splitlines()[-1] for o in outs)
    assert summaries[0].startswith("0 files loaded, 2 skipped"), summaries
    assert summaries[1].startswith("2 files loaded, 0 skipped"), summaries
