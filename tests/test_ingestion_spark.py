"""The Spark backend on a real local pyspark session (runs when the spark extra is installed)."""

from __future__ import annotations

import json
from datetime import date

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
    original = spark_backend.record

    def crash(audit):
        raise KeyboardInterrupt("killed before the audit row")

    monkeypatch.setattr(spark_backend, "record", crash)
    with pytest.raises(KeyboardInterrupt):
        load_files(spark_backend, files)
    monkeypatch.setattr(spark_backend, "record", original)
    report = load_files(spark_backend, files)
    assert report.count("loaded") == 1
    rows = spark_backend.query(
        "select count(*), count(distinct order_line_id) from bronze_spark_test.order_lines "
        "where _source_file = 'order_lines/2026-01-05.csv'"
    )[0]
    assert rows[0] == rows[1] == report.rows_loaded > 0
