"""The whole dbt project built on Spark (dbt-spark ``method: session``, a local pyspark session).

Bronze is loaded into a Spark warehouse and Hive metastore in a temporary folder by the
production loader (``python -m ingestion load``, its own process), then ``dbt build`` runs in a
fresh process, so the ``spark`` target of ``profiles.yml`` must find the loader's metastore on
its own (embedded Derby: one process at a time). Days 1-4 of the committed sample are built
(the 14 days take ~2 min more to load, per-file Spark jobs, and test nothing more); day 5 is then
loaded and the incremental facts run again: on Spark they replace whole day partitions
(``insert_overwrite``), see ``dbt_project/macros/incremental_replace.sql``. The SCD2 dims are
built from every staged version through the ``int_*_versions`` views, which run on Spark as
anywhere (the project has no dbt snapshots, which would need Delta/Iceberg/Hudi here). After the
build, ``quality.freshness.dbt_sources()`` (``dbt source freshness``) runs on the same metastore:
dbt-spark runs the sources' ``loaded_at_query`` like any other adapter.

Each dbt step runs as ``python tests/test_dbt_spark.py`` (``_main`` below): dbt through its
programmatic runner, then the queries the tests assert on, in the session dbt created, so one
JVM serves both; the late day is loaded in that process too, before dbt (saving a JVM start).
The tests read the answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
FIRST_DAY, LAST_DAY, LATE_DAY = date(2026, 1, 1), date(2026, 1, 4), date(2026, 1, 5)
DIMS = {"dim_date", "dim_facility", "dim_carrier", "dim_material", "dim_product", "dim_customer"}
FACTS = {
    "fct_order_lines",
    "fct_orders",
    "fct_shipments",
    "fct_returns",
    "fct_quality_inspections",
    "fct_waste_events",
    "fct_delivery_feedback",
}
INCREMENTAL = (
    "fct_order_lines",
    "fct_shipments",
    "fct_orders",
    "fct_returns",
    "fct_delivery_feedback",
)
pytestmark = [pytest.mark.spark, pytest.mark.slow]

BUILD_QUERIES = {
    "marts_tables": "show tables in marts",
    "bronze_lines": (
        "select order_line_id, order_id, quantity, cast(unit_price as string), "
        "cast(discount_amount as string), cast(_loaded_at as string), _source_line "
        "from bronze.order_lines"
    ),
    "bronze_order_ids": "select distinct order_id from bronze.orders",
    "bronze_shipments": "select count(distinct shipment_id) from bronze.shipments",
    "fct_lines_revenue": "select cast(sum(net_revenue) as string) from marts.fct_order_lines",
    "fct_orders_revenue": "select cast(sum(net_revenue) as string) from marts.fct_orders",
    "fct_orders_rows": "select count(*) from marts.fct_orders",
    "fct_shipments_rows": "select count(*), count(distinct shipment_id) from marts.fct_shipments",
    "metrics_sales_revenue": (
        "select cast(sum(net_revenue) as string) from metrics.metrics_sales_performance"
    ),
}


def _late_queries() -> dict[str, str]:
    late = f"'{LATE_DAY:%Y-%m-%d}'"
    first_late_load = (
        f"(select min(_loaded_at) from bronze.orders where _source_file like '%{LATE_DAY}.csv')"
    )
    return {
        "lines": "select count(*), count(distinct order_line_id) from marts.fct_order_lines",
        "lines_expected": (
            "select count(*) from staging.stg_bronze__order_lines as l "
            "inner join staging.stg_bronze__orders as o on l.order_id = o.order_id"
        ),
        "lines_stale_status": (
            "select count(*) from marts.fct_order_lines as f "
            "inner join staging.stg_bronze__orders as o on f.order_id = o.order_id "
            "where f.order_status <> o.status"
        ),
        "lines_rewritten_before_late_day": (
            "select count(*) from marts.fct_order_lines "
            f"where ordered_date < date {late} and loaded_at >= {first_late_load}"
        ),
        "lines_on_late_day": (
            f"select count(*) from marts.fct_order_lines where ordered_date = date {late}"
        ),
        "shipments": "select count(*), count(distinct shipment_id) from marts.fct_shipments",
        "shipments_expected": "select count(*) from staging.stg_bronze__shipments",
        "shipments_stale_status": (
            "select count(*) from marts.fct_shipments as f "
            "inner join staging.stg_bronze__shipments as s on f.shipment_id = s.shipment_id "
            "where f.shipment_status <> s.status"
        ),
        "partitions": "show partitions marts.fct_order_lines",
    }


# --------------------------------------------------------------------------- runners
def spark_env(root: Path) -> dict[str, str]:
    """A private Spark warehouse and metastore; small shuffles (the data is a few MB)."""
    return {
        **os.environ,
        "WAREHOUSE_TARGET": "spark",
        "BRONZE_SCHEMA": "bronze",
        "SPARK_WAREHOUSE_DIR": str(root / "warehouse"),
        "SPARK_METASTORE_DIR": str(root / "metastore"),
        "SPARK_SHUFFLE_PARTITIONS": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "DBT_PROFILES_DIR": str(PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _run(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, (
        f"{what} failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
    return result


def load(env: dict[str, str], start: date, end: date) -> None:
    """``python -m ingestion load`` of the committed sample, days ``start``-``end``."""
    _run(
        [
            sys.executable,
            "-m",
            "ingestion",
            "load",
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
            "--landing",
            str(ROOT / "sample_data"),
            "--quiet",
        ],
        env,
        f"loading {start}..{end} into Spark",
    )


def dbt_then_query(
    work: Path,
    env: dict[str, str],
    args: list[str],
    queries: dict[str, str],
    load_days: tuple[date, date] | None = None,
) -> dict:
    """In a fresh process: load ``load_days`` if given, dbt ``args`` on target spark, then
    ``queries`` in the same session. Returns the answers and dbt's run_results.json."""
    work.mkdir(parents=True, exist_ok=True)
    request = {
        "load": [d.isoformat() for d in load_days] if load_days else None,
        "dbt": [
            *args,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--threads",
            "4",
            "--no-version-check",
        ],
        "queries": queries,
        "out": str(work / "answers.json"),
    }
    out = _in_fresh_process(work, env, request, f"dbt {' '.join(args)}")
    out["run_results"] = json.loads((work / "target" / "run_results.json").read_text())
    return out


def source_freshness(work: Path, env: dict[str, str]) -> dict:
    """In a fresh process: ``quality.freshness.dbt_sources()`` (``dbt source freshness``) on
    target spark, and each bronze table's newest ``loaded`` audit row, read after it."""
    work.mkdir(parents=True, exist_ok=True)
    request = {"load": None, "freshness": str(work / "target"), "out": str(work / "answers.json")}
    return _in_fresh_process(work, env, request, "dbt source freshness")


def _in_fresh_process(work: Path, env: dict[str, str], request: dict, what: str) -> dict:
    """``request`` run by this file's ``_main`` in a new process; its answers, or a failure
    showing the process's output."""
    (work / "request.json").write_text(json.dumps(request))
    result = subprocess.run(
        [sys.executable, __file__, str(work / "request.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    answers = work / "answers.json"
    assert result.returncode == 0 and answers.exists(), (
        f"{what} on Spark failed ({result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
    return json.loads(answers.read_text())


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _main(request_path: str) -> int:
    """Script mode: dbt through ``dbtRunner``, then the queries in the session it created."""
    from dbt.cli.main import dbtRunner
    from pyspark.sql import SparkSession

    request = json.loads(Path(request_path).read_text())
    if request["load"]:
        from ingestion.backends.spark import SparkBackend
        from ingestion.landing import discover
        from ingestion.loader import load_files

        start, end = (date.fromisoformat(d) for d in request["load"])
        with SparkBackend("bronze") as backend:  # the session dbt then reuses
            report = load_files(backend, discover(ROOT / "sample_data", start=start, end=end))
        if report.failed or not report.count("loaded"):
            print(f"load failed: {[r.message for r in report.failed]}", file=sys.stderr)
            return 1
    if request.get("freshness"):  # quality's dbt source freshness, then the audit it reads
        from dataclasses import asdict

        from quality.freshness import dbt_sources

        verdicts = [asdict(f) for f in dbt_sources(Path(request["freshness"]))]
        # dbt's session (its threads made it; active is per thread, the default is not)
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        newest = spark.sql(
            "select table_name, cast(max(started_at) as string) from bronze._load_audit "
            "where status = 'loaded' group by table_name"
        ).collect()
        out = {"freshness": verdicts, "audit": {t: at for t, at in newest}}
        Path(request["out"]).write_text(json.dumps(out))
        return 0
    result = dbtRunner().invoke(request["dbt"])
    if not result.success:
        print(f"dbt failed: {result.exception or 'see the log above'}", file=sys.stderr)
        return 1
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    answers = {
        name: [[_plain(v) for v in row] for row in spark.sql(sql).collect()]
        for name, sql in request["queries"].items()
    }
    Path(request["out"]).write_text(json.dumps({"queries": answers}))
    return 0


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def spark_root(tmp_path_factory) -> Path:
    pytest.importorskip("pyspark")
    pytest.importorskip("dbt.adapters.spark")
    root = tmp_path_factory.mktemp("dbt_spark")
    load(spark_env(root), FIRST_DAY, LAST_DAY)
    return root


@pytest.fixture(scope="module")
def built(spark_root) -> dict:
    """Days 1-4 in bronze, then the whole project: ``dbt build``."""
    return dbt_then_query(spark_root / "build", spark_env(spark_root), ["build"], BUILD_QUERIES)


@pytest.fixture(scope="module")
def late(built, spark_root) -> dict:
    """Day 5 loaded after the build, then an incremental run of the facts (no lookback)."""
    args = ["run", "--select", *INCREMENTAL, "--vars", "{lookback_days: 0}"]
    return dbt_then_query(
        spark_root / "late",
        spark_env(spark_root),
        args,
        _late_queries(),
        load_days=(LATE_DAY, LATE_DAY),
    )


@pytest.fixture(scope="module")
def freshness(built, spark_root) -> dict:
    """Source freshness of the built warehouse (after the build: the metastore is free)."""
    return source_freshness(spark_root / "freshness", spark_env(spark_root))


def _scalar(answers: dict, name: str):
    return answers["queries"][name][0][0]


# --------------------------------------------------------------------------- tests


def test_build_passes_on_spark_with_every_model_and_test(built):
    results = built["run_results"]["results"]
    failed = [(r["unique_id"], r["status"]) for r in results]
    failed = [f for f in failed if f[1] not in {"success", "pass", "no-op"}]
    assert not failed
    models = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert models >= DIMS | FACTS
    assert {m for m in models if m.startswith("stg_bronze__")}, models
    assert {m for m in models if m.startswith("metrics_")}, models
    tests = [r["unique_id"].split(".")[2] for r in results if r["unique_id"].startswith("test.")]
    # every model's not-null columns (one not_null_columns test each), and more tests besides
    assert all(any(t.startswith(f"not_null_columns_{m}_") for t in tests) for m in models)
    assert len(tests) > 3 * len(models)
    assert sum(r["unique_id"].startswith("unit_test.") for r in results) >= 2
    # the validity windows the SCD2 dims are built from run here too; no snapshot anywhere
    assert {"int_customer_versions", "int_product_versions"} <= models
    assert not [r for r in results if r["unique_id"].startswith("snapshot.")]
    tables = {name for _, name, temporary in built["queries"]["marts_tables"] if not temporary}
    assert tables == DIMS | FACTS


def test_net_revenue_on_spark_reconciles_to_bronze_recomputed_in_python(built):
    latest: dict[int, list] = {}
    lines = built["queries"]["bronze_lines"]
    for row in sorted(lines, key=lambda r: (r[5], r[6])):  # load time, line in the file
        if None not in row[:5]:
            latest[row[0]] = row
    orders = {r[0] for r in built["queries"]["bronze_order_ids"]}
    expected = sum(
        (
            q * Decimal(p) - Decimal(d)
            for _, order_id, q, p, d, *_ in latest.values()
            if order_id in orders
        ),
        Decimal(0),
    )
    assert expected > 0
    revenue = {
        Decimal(_scalar(built, name))
        for name in ("fct_lines_revenue", "fct_orders_revenue", "metrics_sales_revenue")
    }
    assert revenue == {expected.quantize(Decimal("0.01"))}
    assert _scalar(built, "fct_orders_rows") == len(orders)
    rows, keys = built["queries"]["fct_shipments_rows"][0]
    assert rows == keys == _scalar(built, "bronze_shipments") > 0


def test_incremental_run_on_spark_replaces_whole_days_without_losing_rows(late):
    """A late day rewrites earlier days' partitions (orders shipped later) and adds its own."""
    results = late["run_results"]["results"]
    assert {r["unique_id"].split(".")[-1] for r in results} == set(INCREMENTAL)
    assert {r["status"] for r in results} == {"success"}
    q = late["queries"]
    rows, keys = q["lines"][0]
    assert rows == keys == _scalar(late, "lines_expected")
    assert _scalar(late, "lines_stale_status") == 0
    assert _scalar(late, "lines_rewritten_before_late_day") > 0
    assert _scalar(late, "lines_on_late_day") > 0
    rows, keys = q["shipments"][0]
    assert rows == keys == _scalar(late, "shipments_expected")
    assert _scalar(late, "shipments_stale_status") == 0
    days = {p[0] for p in q["partitions"]}
    assert {f"ordered_date={LAST_DAY}", f"ordered_date={LATE_DAY}"} <= days


def test_source_freshness_on_spark_reads_each_tables_newest_loaded_file_from_the_audit(
    freshness,
):
    """dbt-spark runs the sources' ``loaded_at_query`` (``macros/newest_file_loaded.sql``,
    through dbt's ``collect_freshness_custom_sql``): each bronze table's freshness is the newest
    ``loaded`` audit row of its files, loaded minutes ago by the fixture, so fresh."""
    from ingestion.contracts import CONTRACTS

    verdicts = {f["name"].removeprefix("bronze."): f for f in freshness["freshness"]}
    assert set(verdicts) <= set(CONTRACTS) and len(verdicts) >= 10  # some opt out (null)
    for table, f in verdicts.items():
        assert (f["kind"], f["status"], f["severity"]) == ("source", "pass", "ok"), f
        newest = datetime.fromisoformat(f["newest"]).replace(tzinfo=None)
        assert newest == datetime.fromisoformat(freshness["audit"][table]), table
        assert 0 <= f["lag"] < 3600, f  # seconds: this module loaded it


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1]))
