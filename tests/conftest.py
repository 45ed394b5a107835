"""Shared fixtures: generated landing zones (session-scoped, they are reused read-only)."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from data_generator import generate
from tests.dbt_support import TEST_PII_HASH_KEY

# every dbt run of the suite hashes personal data under the test key (dbt fails without one)
os.environ["PII_HASH_KEY"] = TEST_PII_HASH_KEY

ROOT = Path(__file__).resolve().parent.parent
START = date(2026, 1, 1)


#: Test files that take minutes (the daily walk on three engines, dbt on Spark, the Airflow
#: scheduler...), longest first: ``make test`` hands whole files to two workers in collection
#: order (``--dist loadfile``), so starting the long ones first keeps one worker from finishing
#: a long file alone at the end.
LONGEST_FIRST = (
    "test_dbt_daily.py",
    "test_dbt_spark.py",
    "test_airflow_scheduler.py",
    "test_ingestion_spark.py",
    "test_engines.py",
    "test_dbt_marts.py",
    "test_dbt_metrics_additive.py",
)


def _longest_first(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


def pytest_collection_modifyitems(config, items):
    """PostgreSQL (Redis) tests skip when the server is absent, unless REQUIRE_POSTGRES=1
    (REQUIRE_REDIS=1), as in CI. The longest test files run first."""
    _longest_first(items)
    if os.environ.get("REQUIRE_SPARK") == "1":
        import pyspark  # noqa: F401  - CI installs the spark extra: its absence is a failure
    if os.environ.get("REQUIRE_REDIS") != "1" and not _redis_up():
        skip_redis = pytest.mark.skip(reason="Redis is not reachable (set REQUIRE_REDIS=1 to fail)")
        for item in items:
            if item.get_closest_marker("redis"):
                item.add_marker(skip_redis)
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        return
    if any(item.get_closest_marker("postgres") for item in items) and not _postgres_up():
        skip = pytest.mark.skip(
            reason="PostgreSQL is not reachable (set REQUIRE_POSTGRES=1 to fail)"
        )
        for item in items:
            if item.get_closest_marker("postgres"):
                item.add_marker(skip)


def _redis_up() -> bool:
    """The server of REDIS_TEST_URL (default redis://127.0.0.1:6379/0) accepts connections."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0"))
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def _postgres_up() -> bool:
    import socket

    host = os.environ.get("PGHOST", "127.0.0.1")
    port = int(os.environ.get("PGPORT", "5432"))
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def reader_role() -> None:
    """dbt grants the marts to ``analytics_reader`` (dbt_project.yml): on PostgreSQL the role must
    exist, as ``python -m ingestion roles`` makes it in production. Roles are server-wide."""
    if not _postgres_up():
        return
    import psycopg

    with psycopg.connect(autocommit=True, **_pg_kwargs()) as conn:
        conn.execute(
            "do $$ begin create role analytics_reader nologin; "
            "exception when duplicate_object or unique_violation then null; end $$"
        )


@pytest.fixture(scope="session")
def clean_landing(tmp_path_factory) -> Path:
    """35 clean days at a small scale (5 weeks, so weekday patterns and late data show)."""
    out = tmp_path_factory.mktemp("clean") / "landing"
    generate(start=START, days=35, scale=0.15, seed=7, out=out)
    return out


@pytest.fixture(scope="session")
def faulty_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faulty") / "landing"
    generate(start=START, days=24, scale=0.1, seed=11, out=out, faults="all", fault_rate=0.004)
    return out


# --------------------------------------------------------------------------- warehouses
PG_ENV = {
    "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
    "PGPORT": os.environ.get("PGPORT", "5432"),
    "PGUSER": os.environ.get("PGUSER", "postgres"),
    "PGDATABASE": os.environ.get("PGDATABASE", "test"),
}


@dataclass
class Warehouse:
    """A real, empty warehouse for one test: a DuckDB file or a fresh PostgreSQL schema."""

    target: str
    schema: str
    env: dict[str, str]

    def backend(self):
        from ingestion.backends import get_backend
        from ingestion.config import Settings

        return get_backend(Settings.from_env(self.env))

    def query(self, sql: str) -> list[tuple]:
        with self.backend() as b:
            return b.query(sql.replace("bronze.", f"{self.schema}."))

    def scalar(self, sql: str):
        return self.query(sql)[0][0]


SNOWFLAKE_ENV = {
    "WAREHOUSE_TARGET": "snowflake",
    "BRONZE_SCHEMA": "bronze",
    "SNOWFLAKE_ACCOUNT": "test-account",
    "SNOWFLAKE_USER": "loader",
    "SNOWFLAKE_PASSWORD": "not-a-secret",
    "SNOWFLAKE_ROLE": "loader_role",
    "SNOWFLAKE_WAREHOUSE": "load_wh",
    "SNOWFLAKE_DATABASE": "analytics",
}


@contextmanager
def _warehouse(kind: str, tmp_path: Path):
    if kind == "duckdb":
        env = {
            **os.environ,
            "WAREHOUSE_TARGET": "duckdb",
            "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "BRONZE_SCHEMA": "bronze",
        }
        yield Warehouse("duckdb", "bronze", env)
    elif kind == "postgres":
        import psycopg

        schema = f"bronze_t{uuid.uuid4().hex[:10]}"
        env = {**os.environ, **PG_ENV, "WAREHOUSE_TARGET": "postgres", "BRONZE_SCHEMA": schema}
        try:
            yield Warehouse("postgres", schema, env)
        finally:
            with psycopg.connect("", autocommit=True, **_pg_kwargs()) as conn:
                conn.execute(f"drop schema if exists {schema} cascade")
    else:  # Snowflake, in-process through fakesnow (the real service is out of reach)
        pytest.importorskip("snowflake.connector")
        fakesnow = pytest.importorskip("fakesnow")
        with fakesnow.patch():
            yield Warehouse("snowflake", "bronze", dict(SNOWFLAKE_ENV))


@pytest.fixture(
    params=[
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("snowflake", marks=pytest.mark.slow),
    ]
)
def warehouse(request, tmp_path) -> Warehouse:
    """Every engine the loader's behaviour is tested on in-process."""
    with _warehouse(request.param, tmp_path) as w:
        yield w


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def local_warehouse(request, tmp_path) -> Warehouse:
    """Engines a separate process can reach too (command-line and crash tests)."""
    with _warehouse(request.param, tmp_path) as w:
        yield w


@pytest.fixture
def fake_snowflake(tmp_path) -> Warehouse:
    with _warehouse("snowflake", tmp_path) as w:
        yield w


def _pg_kwargs() -> dict[str, str]:
    return {
        "host": PG_ENV["PGHOST"],
        "port": PG_ENV["PGPORT"],
        "user": PG_ENV["PGUSER"],
        "dbname": PG_ENV["PGDATABASE"],
    }
