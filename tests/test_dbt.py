"""The dbt staging and intermediate layers, built for real: bronze loaded from landing CSVs,
then `dbt build`.

Each engine gets one warehouse per test module (a DuckDB file in a temporary folder, a fresh
PostgreSQL database), loaded with the production loader from the committed ``sample_data/``;
``dbt build --select staging`` and the validity windows of ``intermediate`` then runs as a
subprocess, the way Airflow and developers run it, so every model and every data test of the
layers runs on every engine (``int_customer_order_months``, built from the marts, is tested with
them: tests/test_dbt_daily.py, test_dbt_metrics.py). The
tests assert what a user of the layers sees: one row per key, every version kept where history is
wanted (one staging model per versioned entity, its validity windows in ``int_*_versions``), no
personal data in clear. A fault-injected landing zone checks that duplicates and incomplete rows are handled.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pytest

from ingestion.contracts import CONTRACTS
from ingestion.landing import discover
from ingestion.loader import load_files
from tests.dbt_support import run_dbt as _run_dbt

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
PII = CONTRACTS["customers"].pii
#: the entities with history: one staging model of every version, windowed in intermediate
VERSION_MODELS = {
    "stg_bronze__product_versions": "products",
    "stg_bronze__customer_versions": "customers",
}
WINDOW_MODELS = {
    "int_product_versions": "stg_bronze__product_versions",
    "int_customer_versions": "stg_bronze__customer_versions",
}
#: the one staging model of each bronze table
STAGING = {t: f"stg_bronze__{t}" for t in CONTRACTS} | {t: m for m, t in VERSION_MODELS.items()}
STAGING_MODELS = set(STAGING.values())
INCREMENTAL_STAGING = {
    f"stg_bronze__{t}"
    for t in (
        "orders",
        "order_lines",
        "shipments",
        "returns",
        "quality_inspections",
        "waste_events",
        "delivery_feedback",
        "customer_versions",
    )
}


run_dbt = partial(_run_dbt, threads=2, timeout=600)


def build_staging(work: Path, env: dict[str, str]) -> dict:
    """Run ``dbt build --select staging`` and the validity windows (and the tests of those
    layers alone); fail unless it passed."""
    result = run_dbt(
        work,
        env,
        "build",
        "--select",
        "staging",
        *WINDOW_MODELS,
        "--indirect-selection",
        "cautious",
    )
    assert result.returncode == 0, (
        f"dbt build failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )
    return json.loads((work / "target" / "run_results.json").read_text())


@dataclass
class Staged:
    """A warehouse with bronze loaded and the staging layer built on it."""

    engine: str
    query: Callable[[str], list[tuple]]
    run_results: dict

    def scalar(self, sql: str):
        return self.query(sql)[0][0]

    def columns(self, model: str, schema: str = "staging") -> list[str]:
        return [
            r[0]
            for r in self.query(
                "select column_name from information_schema.columns "
                f"where table_schema = '{schema}' and table_name = '{model}'"
            )
        ]


# --------------------------------------------------------------------------- warehouses
def _duckdb_query(path: Path) -> Callable[[str], list[tuple]]:
    import duckdb

    def query(sql: str) -> list[tuple]:
        # read-only and short-lived: DuckDB allows one writing process per file
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    return query


def _load_duckdb(landing: Path, path: Path) -> None:
    from ingestion.backends.duckdb import DuckDBBackend

    with DuckDBBackend(path) as backend:
        report = load_files(backend, discover(landing))
    assert not report.failed, [f.file for f in report.failed]


def _build_duckdb(work: Path, landing: Path) -> Staged:
    path = work / "w.duckdb"
    _load_duckdb(landing, path)
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
    return Staged("duckdb", _duckdb_query(path), build_staging(work, env))


def _pg_env() -> dict[str, str]:
    return {
        "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
    }


@contextmanager
def _postgres_database() -> Iterator[dict[str, str]]:
    """A fresh database, dropped at the end (with every schema dbt built in it)."""
    import psycopg

    env = _pg_env()
    name = f"dbt_t{uuid.uuid4().hex[:10]}"
    admin = {"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        yield {**env, "PGDATABASE": name}
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def _build_postgres(work: Path, landing: Path, env: dict[str, str]) -> Staged:
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    with PostgresBackend("bronze", PostgresBackend.conninfo(env)) as backend:
        report = load_files(backend, discover(landing))
    assert not report.failed, [f.file for f in report.failed]

    def query(sql: str) -> list[tuple]:
        with psycopg.connect(PostgresBackend.conninfo(env), autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    results = build_staging(work, {**env, "WAREHOUSE_TARGET": "postgres"})
    return Staged("postgres", query, results)


@pytest.fixture(scope="module")
def sample_landing(tmp_path_factory) -> Path:
    """A private copy of the committed sample landing zone."""
    landing = tmp_path_factory.mktemp("sample") / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    return landing


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def staged(request, sample_landing, tmp_path_factory) -> Iterator[Staged]:
    """The sample data loaded into bronze and the staging layer built, once per engine."""
    work = tmp_path_factory.mktemp(f"dbt_{request.param}")
    if request.param == "duckdb":
        yield _build_duckdb(work, sample_landing)
    else:
        with _postgres_database() as env:
            yield _build_postgres(work, sample_landing, env)


# --------------------------------------------------------------------------- tests
def test_build_creates_every_staging_model_and_passes_every_test(staged):
    results = staged.run_results["results"]
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert built == STAGING_MODELS | set(WINDOW_MODELS)
    # one staging model per bronze table: no second "latest version" model of a versioned one
    assert len(STAGING_MODELS) == len(CONTRACTS)
    assert {r["status"] for r in results} <= {"success", "pass"}
    tests = [r["unique_id"].split(".")[2] for r in results if r["unique_id"].startswith("test.")]
    # each model's not-null columns are one test (not_null_columns), and each has more tests
    assert all(any(t.startswith(f"not_null_columns_{m}_") for t in tests) for m in STAGING_MODELS)
    assert len(tests) > 3 * len(STAGING_MODELS)
    kinds = dict(
        staged.query(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'staging'"
        )
    )
    # the large event tables and customers are incremental tables (deduplicated once per build),
    # the rest views
    tables = {name for name, kind in kinds.items() if kind != "VIEW"}
    assert tables == INCREMENTAL_STAGING
    assert set(kinds) == STAGING_MODELS
    # the validity windows are views: computed on read over every staged version
    windows = dict(
        staged.query(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'intermediate'"
        )
    )
    assert windows == dict.fromkeys(WINDOW_MODELS, "VIEW")


def test_orders_keep_one_row_per_order_with_its_latest_status(staged):
    rows, keys = staged.query(
        "select count(*), count(distinct order_id) from staging.stg_bronze__orders"
    )[0]
    assert rows == keys == staged.scalar("select count(distinct order_id) from bronze.orders")
    stale = staged.scalar(
        """
        select count(*)
        from staging.stg_bronze__orders as s
        inner join bronze.orders as b
            on s.order_id = b.order_id and b.updated_at > s.updated_at
        """
    )
    assert stale == 0
    # the sample holds orders written again when shipped or delivered
    assert staged.scalar("select count(*) from bronze.orders") > rows


@pytest.mark.parametrize(
    ("schema", "model"),
    [("staging", "stg_bronze__customer_versions"), ("intermediate", "int_customer_versions")],
)
def test_customer_models_hold_personal_data_only_hashed(staged, schema, model):
    columns = set(staged.columns(model, schema))
    assert columns, f"{model} not found in schema {schema}"
    assert not columns & set(PII)
    assert {f"{c}_hash" for c in PII} <= columns
    clear = staged.scalar(
        f"select count(*) from {schema}.{model} as s inner join bronze.customers as b "
        "on s.email_hash = b.email or s.last_name_hash = b.last_name"
    )
    assert clear == 0
    # a hash, the same for every version of the same email
    assert staged.scalar(f"select min(length(email_hash)) from {schema}.{model}") >= 32
    per_customer = staged.scalar(
        f"select max(n) from (select customer_id, count(distinct email_hash) as n "
        f"from {schema}.{model} group by customer_id) as t"
    )
    assert per_customer == 1


@pytest.mark.parametrize(("model", "staging"), WINDOW_MODELS.items())
def test_version_models_keep_every_version_with_one_current_per_key(staged, model, staging):
    table = VERSION_MODELS[staging]
    key = CONTRACTS[table].primary_key[0]
    versions = staged.scalar(
        f"select count(*) from (select distinct {key}, updated_at from bronze.{table}) as v"
    )
    assert staged.scalar(f"select count(*) from staging.{staging}") == versions
    assert staged.scalar(f"select count(*) from intermediate.{model}") == versions
    # the latest version of a key is a filter on is_current, one row per key
    keys = staged.scalar(f"select count(distinct {key}) from bronze.{table}")
    assert staged.scalar(f"select count(*) from intermediate.{model} where is_current") == keys
    not_one = staged.scalar(
        f"select count(*) from (select {key} from intermediate.{model} group by {key} "
        "having sum(case when is_current then 1 else 0 end) <> 1) as k"
    )
    assert not_one == 0
    # each closed version ends exactly where the next one starts
    gaps = staged.scalar(
        f"""
        select count(*)
        from intermediate.{model} as v
        where not v.is_current
            and not exists (
                select 1 from intermediate.{model} as n
                where n.{key} = v.{key} and n.valid_from = v.valid_to
            )
        """
    )
    assert gaps == 0
    assert staged.scalar(f"select count(*) from intermediate.{model} where not is_current") > 0


def test_weather_keeps_one_row_per_day_and_city(staged):
    model = "staging.stg_bronze__weather_daily"
    rows = staged.scalar(f"select count(*) from {model}")
    keys = staged.scalar(
        f"select count(*) from (select distinct weather_date, city from {model}) as k"
    )
    assert rows == keys > 0


# --------------------------------------------------------------------------- faults
@pytest.fixture(scope="module")
def faulty_staged(tmp_path_factory) -> Staged:
    """Ten days with every fault injected, loaded into DuckDB; bronze keeps what parsed."""
    from data_generator import generate

    work = tmp_path_factory.mktemp("dbt_faulty")
    landing = work / "landing"
    generate(date(2026, 1, 1), 10, 0.1, 11, landing, faults="all", fault_rate=0.004)
    return _build_duckdb(work, landing)


def _distinct(staged: Staged, relation: str, columns: str) -> int:
    return staged.scalar(f"select count(*) from (select distinct {columns} from {relation}) as k")


def test_build_passes_on_faulty_data_with_duplicates_removed(faulty_staged):
    duplicated = 0
    for table, contract in CONTRACTS.items():
        key = ", ".join(contract.primary_key)
        if contract.versioned:
            key += ", updated_at"
        duplicated += faulty_staged.scalar(f"select count(*) from bronze.{table}")
        duplicated -= _distinct(faulty_staged, f"bronze.{table}", key)
    assert duplicated > 0, "the fault-injected landing should hold duplicated rows"
    for table, contract in CONTRACTS.items():
        key = ", ".join(contract.primary_key)
        model = f"staging.{STAGING[table]}"
        if STAGING[table] in VERSION_MODELS:
            key += ", updated_at"  # every version kept, each once
        assert faulty_staged.scalar(f"select count(*) from {model}") == _distinct(
            faulty_staged, model, key
        ), table


def test_rows_missing_a_required_value_are_left_out_of_staging(faulty_staged):
    incomplete = 0
    for table, contract in CONTRACTS.items():
        required = [c.name for c in contract.columns if c.required]
        missing = " or ".join(f"{c} is null" for c in required)
        incomplete += faulty_staged.scalar(f"select count(*) from bronze.{table} where {missing}")
        staged_cols = set(faulty_staged.columns(STAGING[table]))
        kept = [c for c in required if c in staged_cols] + [
            f"{c}_hash" for c in required if c in contract.pii
        ]
        left = " or ".join(f"{c} is null" for c in kept)
        assert (
            faulty_staged.scalar(f"select count(*) from staging.{STAGING[table]} where {left}") == 0
        ), table
    assert incomplete > 0, "the fault-injected landing should hold rows missing a required value"
