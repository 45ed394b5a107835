"""The star schema (``models/marts``), built for real on the committed sample data.

One warehouse per engine and module (a DuckDB file in a temporary folder, a fresh PostgreSQL
database) gets bronze from the production loader, then a full ``dbt build`` runs as a subprocess:
every model, data test, unit test and reconciliation test of the project. The tests
then check, independently of dbt, what an analyst relies on: a sale joins exactly one product
version, revenue reconciles to bronze recomputed here in Python, and an incremental run after a
late batch gives the same facts as a full refresh.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.landing import discover
from ingestion.loader import load_files
from tests.dbt_support import run_dbt

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
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
    "fct_orders",
    "fct_shipments",
    "fct_returns",
    "fct_delivery_feedback",
)
#: staging models that are incremental tables (macros/incremental_staging.sql)
STAGING_TABLES = (
    "stg_bronze__orders",
    "stg_bronze__order_lines",
    "stg_bronze__shipments",
    "stg_bronze__customer_versions",
)
#: the validity windows over the staging versions (views): after an incremental run they must
#: window every version of a key, exactly as after a rebuild
INTERMEDIATE = ("int_customer_versions", "int_product_versions")


def dbt_ok(work: Path, env: dict[str, str], *args: str) -> dict:
    """Run dbt; fail with its output unless it all passed; return run_results.json."""
    result = run_dbt(work, env, *args)
    assert result.returncode == 0, (
        f"dbt {' '.join(args)} failed ({result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )
    return json.loads((work / "target" / "run_results.json").read_text())


@dataclass
class Built:
    """A warehouse with bronze loaded and the whole project built on it."""

    engine: str
    query: Callable[[str], list[tuple]]
    run_results: dict
    #: the warehouse's environment and dbt's folder (its target/ holds the manifests)
    env: dict[str, str] = field(default_factory=dict)
    work: Path | None = None

    def scalar(self, sql: str):
        return self.query(sql)[0][0]


# --------------------------------------------------------------------------- warehouses
def _duckdb_query(path: Path) -> Callable[[str], list[tuple]]:
    import duckdb

    def query(sql: str) -> list[tuple]:
        # short-lived: DuckDB allows one writing process per file
        with duckdb.connect(str(path)) as con:
            return con.execute(sql).fetchall()

    return query


def _compiled_test(work: Path, prefix: str) -> str:
    """The SQL of the one test named ``prefix...`` that dbt last compiled under ``work/target``."""
    found = list((work / "target" / "compiled").rglob(f"{prefix}*.sql"))
    assert len(found) == 1, found
    return found[0].read_text()


def _load_duckdb(files: list, path: Path) -> None:
    from ingestion.backends.duckdb import DuckDBBackend

    with DuckDBBackend(path) as backend:
        report = load_files(backend, files)
    assert not report.failed, [f.file for f in report.failed]


@contextmanager
def _postgres_database() -> Iterator[dict[str, str]]:
    """A fresh database, dropped at the end (with every schema dbt built in it)."""
    import psycopg

    env = {
        "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
    }
    name = f"dbt_m{uuid.uuid4().hex[:10]}"
    admin = {"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        yield {**env, "PGDATABASE": name}
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="module")
def sample_landing(tmp_path_factory) -> Path:
    """A private copy of the committed sample landing zone (14 days)."""
    landing = tmp_path_factory.mktemp("sample") / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    return landing


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def built(request, sample_landing, tmp_path_factory) -> Iterator[Built]:
    """The sample data loaded into bronze and the full project built, once per engine."""
    work = tmp_path_factory.mktemp(f"marts_{request.param}")
    if request.param == "duckdb":
        path = work / "w.duckdb"
        _load_duckdb(discover(sample_landing), path)
        env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
        yield Built("duckdb", _duckdb_query(path), dbt_ok(work, env, "build"))
        return
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    with _postgres_database() as env:
        conninfo = PostgresBackend.conninfo(env)
        with PostgresBackend("bronze", conninfo) as backend:
            report = load_files(backend, discover(sample_landing))
        assert not report.failed, [f.file for f in report.failed]

        def query(sql: str) -> list[tuple]:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                return conn.execute(sql).fetchall()

        results = dbt_ok(work, {**env, "WAREHOUSE_TARGET": "postgres"}, "build")
        yield Built("postgres", query, results)


# --------------------------------------------------------------------------- full build
def test_build_passes_with_every_mart_and_test_and_no_snapshot(built):
    results = built.run_results["results"]
    assert {r["status"] for r in results} <= {"success", "pass", "no-op"}  # no-op: exposures
    names = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert names >= DIMS | FACTS
    assert names >= set(INTERMEDIATE)
    # the SCD2 dims are built from every landed version (int_*_versions): no dbt snapshot
    assert not [r for r in results if r["unique_id"].startswith("snapshot.")]
    assert sum(r["unique_id"].startswith("unit_test.") for r in results) >= 2
    singular = {r["unique_id"] for r in results if ".assert_" in r["unique_id"]}
    assert len(singular) >= 4, singular
    tables = built.scalar(
        "select count(*) from information_schema.tables where table_schema = 'marts'"
    )
    assert tables == len(DIMS | FACTS)


def test_every_sale_joins_exactly_one_product_and_customer_version(built):
    lines = built.scalar("select count(*) from marts.fct_order_lines")
    assert lines == built.scalar("select count(*) from staging.stg_bronze__order_lines") > 0
    # recomputed from the windows, not from the key the model chose
    matches = built.query(
        """
        select count(*), count(distinct f.order_line_id),
            sum(case when p.product_version_key = f.product_version_key then 1 else 0 end)
        from marts.fct_order_lines as f
        inner join marts.dim_product as p
            on p.product_id = f.product_id
            and f.ordered_at >= p.valid_from and f.ordered_at < p.valid_to
        """
    )[0]
    assert matches == (lines, lines, lines)
    customers = built.scalar(
        """
        select count(*)
        from marts.fct_order_lines as f
        inner join marts.dim_customer as c
            on c.customer_version_key = f.customer_version_key
            and f.ordered_at >= c.valid_from and f.ordered_at < c.valid_to
        """
    )
    assert customers == lines
    # some sales happened under a product version that is no longer current
    assert (
        built.scalar(
            "select count(*) from marts.fct_order_lines as f inner join marts.dim_product as p "
            "on p.product_version_key = f.product_version_key where not p.is_current"
        )
        > 0
    )


def test_net_revenue_reconciles_to_bronze_recomputed_in_python(built):
    lines = built.query(
        "select order_line_id, order_id, quantity, unit_price, discount_amount, _loaded_at, "
        "_source_line from bronze.order_lines"
    )
    latest: dict[int, tuple] = {}
    for row in sorted(lines, key=lambda r: (r[5], r[6])):
        if None not in row[:5]:
            latest[int(row[0])] = row
    orders = {int(r[0]) for r in built.query("select order_id from bronze.orders")}
    expected = sum(
        (
            Decimal(str(q)) * Decimal(str(p)) - Decimal(str(d))
            for _, o, q, p, d, *_ in latest.values()
            if int(o) in orders
        ),
        Decimal(0),
    )
    fact_lines = built.scalar("select sum(net_revenue) from marts.fct_order_lines")
    fact_orders = built.scalar("select sum(net_revenue) from marts.fct_orders")
    assert (
        Decimal(str(fact_lines)) == Decimal(str(fact_orders)) == expected.quantize(Decimal("0.01"))
    )
    assert built.scalar("select count(*) from marts.fct_orders") == built.scalar(
        "select count(distinct order_id) from bronze.orders"
    )


def test_shipments_on_time_and_days_late_agree_with_their_timestamps(built):
    rows = built.query(
        "select promised_at, delivered_at, is_on_time, days_late from marts.fct_shipments"
    )
    assert rows
    for promised, delivered, on_time, late in rows:
        if delivered is None:
            assert on_time is None and late is None
        else:
            assert on_time == (delivered <= promised)
            assert late == max(0, (delivered.date() - promised.date()).days)
    assert {r[2] for r in rows} == {True, False, None}


# --------------------------------------------------------------------------- incremental
def _rows(query: Callable[[str], list[tuple]], relation: str) -> list[tuple]:
    return sorted(query(f"select * from {relation}"), key=repr)


def test_a_dim_customer_built_before_its_loaded_at_stops_the_run_with_the_command_to_fix_it(
    sample_landing, tmp_path
):
    """dim_customer became incremental with a loaded_at column. On a warehouse an earlier
    version built, the daily run stops on it with the command that rebuilds it, and that
    command works; the run then goes on incrementally."""
    path = tmp_path / "w.duckdb"
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
    query = _duckdb_query(path)
    _load_duckdb(discover(sample_landing, end=date(2026, 1, 3)), path)
    dbt_ok(tmp_path, env, "run")
    # the table as the earlier version built it: no loaded_at
    query("alter table marts.dim_customer drop column loaded_at")
    failed = run_dbt(tmp_path, env, "run", "--select", "dim_customer")
    assert failed.returncode == 1
    out = failed.stdout
    assert "has no column loaded_at" in out, out[-3000:]
    assert "dbt build --full-refresh --select dim_customer" in out, out[-3000:]
    dbt_ok(tmp_path, env, "build", "--full-refresh", "--select", "dim_customer")
    versions = query("select count(*), count(loaded_at) from marts.dim_customer")[0]
    assert versions[0] == versions[1] > 0
    results = dbt_ok(tmp_path, env, "run", "--select", "dim_customer")
    assert [r["status"] for r in results["results"]] == ["success"]


def test_incremental_run_after_a_late_batch_equals_a_full_refresh(sample_landing, tmp_path):
    """Days 1-10 built, days 11-14 loaded, an incremental run: the same facts as a rebuild.

    ``lookback_days`` is 0 on the incremental run, so only rows loaded after the first build
    are re-read: the facts rows that change (an order shipped, a shipment delivered) must be
    replaced by delete+insert, not left stale or doubled.
    """
    path = tmp_path / "w.duckdb"
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
    query = _duckdb_query(path)
    _load_duckdb(discover(sample_landing, end=date(2026, 1, 10)), path)
    dbt_ok(tmp_path, env, "run")
    before = {m: query(f"select count(*) from marts.{m}")[0][0] for m in INCREMENTAL}
    first_load = query("select max(loaded_at) from marts.fct_order_lines")[0][0]

    # the days before the late batch: each has orders that the batch moves on (a new status)
    # and no line of its own in it, so metrics_sales_performance, whose figures a status does not
    # change, must not recompute them; a tampered figure there shows whether it did
    early_sales = (
        "select ordered_date, product_category, channel, units "
        "from metrics.metrics_sales_performance where ordered_date <= date '2026-01-10'"
    )
    query(
        "update metrics.metrics_sales_performance set units = units + 1000 "
        "where ordered_date <= date '2026-01-10'"
    )
    tampered = _rows(query, f"({early_sales})")
    assert tampered
    _load_duckdb(discover(sample_landing, start=date(2026, 1, 11)), path)
    # the daily run's models; its tests once the tampered figures are checked and put back (the
    # reconciliation tests would rightly fail on them)
    results = dbt_ok(tmp_path, env, "run", "--vars", "{lookback_days: 0}")
    assert {r["status"] for r in results["results"]} <= {"success"}
    restatused = query(
        "select distinct ordered_date from marts.fct_order_lines "
        f"where ordered_date <= date '2026-01-10' and loaded_at > timestamp '{first_load}'"
    )
    assert restatused, "the late batch gave no order of the first days a new version"
    # not recomputed: the tampered figures are still there (a recomputed day would lose them)
    assert _rows(query, f"({early_sales})") == tampered, "days recomputed for a status change"
    query(
        "update metrics.metrics_sales_performance set units = units - 1000 "
        "where ordered_date <= date '2026-01-10'"
    )
    # the daily run's tests: they check the recent window only (macros/data_tests_scope.sql)
    daily = {**env, "DBT_DATA_TESTS_SCOPE": "recent"}
    results = dbt_ok(tmp_path, daily, "test", "--vars", "{lookback_days: 0}")
    assert {r["status"] for r in results["results"]} <= {"pass"}
    query("create schema if not exists compare")
    # the incremental staging tables too: a late version must replace its key's row exactly as
    # a rebuild ranks it; and the validity windows over them
    compared = {
        **dict.fromkeys(INCREMENTAL, "marts"),
        "metrics_sales_performance": "metrics",
        **dict.fromkeys(STAGING_TABLES, "staging"),
        **dict.fromkeys(INTERMEDIATE, "intermediate"),
        # the customers' orders by month: the months of the orders the batch changed
        "int_customer_order_months": "intermediate",
    }
    for model, schema in compared.items():
        query(f"create table compare.{model} as select * from {schema}.{model}")

    dbt_ok(tmp_path, env, "run", "--full-refresh", "--select", *compared)
    for model, schema in compared.items():
        if model in before:
            after = query(f"select count(*) from {schema}.{model}")[0][0]
            assert after > before[model], model
        for left, right in (("compare", schema), (schema, "compare")):
            diff = query(
                f"select count(*) from (select * from {left}.{model} "
                f"except select * from {right}.{model}) as d"
            )[0][0]
            assert diff == 0, f"{model}: {diff} rows in {left} not in {right}"
        assert _rows(query, f"compare.{model}") == _rows(query, f"{schema}.{model}")
    # the late batch rewrote rows the first build had written (orders shipped, delivered later)
    for model, day in (
        ("fct_order_lines", "ordered_date"),
        ("fct_orders", "ordered_date"),
        ("fct_shipments", "shipped_date"),
    ):
        rewritten = query(
            f"select count(*) from marts.{model} "
            f"where {day} <= date '2026-01-10' and loaded_at > timestamp '{first_load}'"
        )[0][0]
        assert rewritten > 0, model


def test_daily_tests_check_recent_rows_but_catch_a_new_duplicate_of_an_old_key(
    sample_landing, tmp_path
):
    """In the ``recent`` scope a test on an incremental model skips rows loaded before the
    window, but ``unique`` counts the window's keys over the whole table: a newly loaded row
    that duplicates an old key fails, and a full refresh (or ``all``) checks every row."""
    path = tmp_path / "w.duckdb"
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
    query = _duckdb_query(path)
    _load_duckdb(discover(sample_landing), path)
    dbt_ok(tmp_path, env, "run", "--select", "+fct_order_lines")
    oldest = query("select min(loaded_at) from marts.fct_order_lines")[0][0]
    # an old row broken, out of the window, and a new copy of an old key
    query(
        "update marts.fct_order_lines set quantity = null "
        "where order_line_id = (select min(order_line_id) from marts.fct_order_lines)"
    )
    query(
        "insert into marts.fct_order_lines select * replace "
        "(loaded_at + interval 30 day as loaded_at) from marts.fct_order_lines "
        f"where order_line_id = (select max(order_line_id) from marts.fct_order_lines "
        f"where loaded_at = timestamp '{oldest}')"
    )
    query(
        "update marts.fct_order_lines set loaded_at = loaded_at - interval 60 day "
        "where order_line_id = (select min(order_line_id) from marts.fct_order_lines)"
    )
    tests = ("test_name:unique,fct_order_lines", "test_name:not_null_columns,fct_order_lines")

    def failing(scope: str) -> set[str]:
        run_dbt(tmp_path, {**env, "DBT_DATA_TESTS_SCOPE": scope}, "test", "--select", *tests)
        results = json.loads((tmp_path / "target" / "run_results.json").read_text())
        assert len(results["results"]) == 2  # the key's unique, the model's not_null_columns
        return {
            r["unique_id"].split(".")[2].split("_fct_order_lines")[0]
            for r in results["results"]
            if r["status"] == "fail"
        }

    assert failing("recent") == {"unique"}
    assert failing("all") == {"unique", "not_null_columns"}
    # the failing not_null_columns names the column and counts its nulls
    rows = query(
        "select column_name, null_rows from (" + _compiled_test(tmp_path, "not_null_columns") + ")"
    )
    assert rows == [("quantity", 1)]
