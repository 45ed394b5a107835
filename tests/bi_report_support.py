"""The sample warehouse for the BI report and analytics tests (the committed ``sample_data/``,
2026-01-01 to 2026-01-14, loaded with the production loader and built by dbt), on DuckDB or on a
fresh PostgreSQL database, and a way to query it that does not go through the code under test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.airflow_support import ROOT, SAMPLE, build_warehouse, platform_env, run
from tests.dbt_support import run_dbt

PY = sys.executable


@contextmanager
def sample_warehouse(work: Path, target: str) -> Iterator[dict[str, str]]:
    """The environment of a built sample warehouse (dropped afterwards on PostgreSQL)."""
    if target == "duckdb":
        env = platform_env(work, BI_REPORTS_DIR=str(work / "reports"))
        build_warehouse(env, work)
        yield env
        return
    import psycopg

    name = f"bi_t{uuid.uuid4().hex[:10]}"
    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAREHOUSE_", "DUCKDB_"))}
        env.update(
            {
                "WAREHOUSE_TARGET": "postgres",
                "PGHOST": admin["host"],
                "PGPORT": str(admin["port"]),
                "PGUSER": admin["user"],
                "PGDATABASE": name,
                "LANDING_DIR": str(work / "landing"),
                "BI_REPORTS_DIR": str(work / "reports"),
                "PLATFORM_LOCAL_DIR": str(work / "local"),
            }
        )
        shutil.copytree(SAMPLE, work / "landing")
        run(env, PY, "-m", "ingestion", "load", "--all", "--quiet")
        built = run_dbt(work, env, "build", "--quiet")
        assert built.returncode == 0, built.stdout[-4000:]
        yield env
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def query(env: dict[str, str], sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` straight from the engine's own client (exact decimals); ``?`` marks
    parameters on both engines. The connection is closed at once: DuckDB lets one process at a
    time open the file, and the report runs in another."""
    if env["WAREHOUSE_TARGET"] == "duckdb":
        import duckdb

        with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as con:
            return con.execute(sql, params or []).fetchall()
    import psycopg

    with psycopg.connect(
        host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname=env["PGDATABASE"]
    ) as conn:
        return conn.execute(sql.replace("?", "%s"), params or []).fetchall()


def bi(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m bi <args>`` with ``env``; the caller checks the exit code."""
    return subprocess.run(
        [PY, "-m", "bi", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
