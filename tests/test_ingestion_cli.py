"""The ingestion command line, a real SIGKILL mid-load, and the contracts every layer shares."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ingestion.backends.base import META_COLUMNS
from ingestion.contracts import CONTRACTS
from ingestion.dbt_sources import LOADED_AT_QUERY, SOURCES_FILE, render_sources

ROOT = Path(__file__).resolve().parent.parent


def _cli(env: dict, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def test_load_one_day_then_a_range_then_status(local_warehouse, clean_landing):
    env = {**local_warehouse.env, "LANDING_DIR": str(clean_landing)}
    one = _cli(env, "load", "--date", "2026-01-02", "--quiet")
    assert one.returncode == 0, one.stderr
    assert "files loaded" in one.stdout and "0 failed" in one.stdout
    days = local_warehouse.query("select distinct _source_file from bronze.orders")
    assert days == [("orders/2026-01-02.csv",)]
    rng = _cli(env, "load", "--from", "2026-01-01", "--to", "2026-01-03", "--quiet")
    assert rng.returncode == 0, rng.stderr
    day2_files = len(list(clean_landing.glob("*/2026-01-02.csv")))
    assert f"{day2_files} skipped" in rng.stdout
    status = _cli(env, "status")
    assert status.returncode == 0, status.stderr
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("orders "))
    loaded = local_warehouse.scalar("select count(*) from bronze.orders")
    assert f"{loaded:,}" in line
    files = _cli(env, "status", "--files", "--limit", "5")
    assert files.returncode == 0 and len(files.stdout.strip().splitlines()) == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["load"], "one of the arguments --date --from --all is required"),
        (["load", "--date", "2026-02-30"], "not a date"),
        (["load", "--from", "2026-01-01"], "--from needs --to"),
        (["load", "--all", "--tables", "orders,nope"], "unknown table(s) nope"),
        (["load", "--date", "2030-01-01"], "no landing files"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(tmp_path, clean_landing, args, message):
    env = {
        **os.environ,
        "LANDING_DIR": str(clean_landing),
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
    }
    result = _cli(env, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_warehouse_target_is_named():
    result = _cli({**os.environ, "WAREHOUSE_TARGET": "oracle"}, "status")
    assert result.returncode == 2
    assert "WAREHOUSE_TARGET='oracle' is not supported" in result.stderr


def test_sigkill_mid_load_leaves_no_partial_rows_and_the_next_run_completes(
    local_warehouse, clean_landing
):
    """The loader is killed (SIGKILL) after inserting a file's rows but before its commit."""
    env = {**local_warehouse.env, "LANDING_DIR": str(clean_landing)}
    first = _cli(env, "load", "--date", "2026-01-01", "--tables", "orders", "--quiet")
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingestion",
            "load",
            "--date",
            "2026-01-02",
            "--tables",
            "orders,order_lines",
            "--quiet",
        ],
        cwd=ROOT,
        env={**env, "INGESTION_FAILPOINT": "before_commit"},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "FAILPOINT before_commit" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "loader exited before the failpoint"
        assert "FAILPOINT before_commit" in line
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    # nothing of the killed file: no rows, no rejects, no audit row
    assert (
        local_warehouse.scalar(
            "select count(*) from bronze.orders where _source_file = 'orders/2026-01-02.csv'"
        )
        == 0
    )
    assert (
        local_warehouse.scalar(
            "select count(*) from bronze._load_audit where file_path = 'orders/2026-01-02.csv'"
        )
        == 0
    )
    before = local_warehouse.scalar("select count(*) from bronze.orders")
    again = _cli(env, "load", "--date", "2026-01-02", "--tables", "orders,order_lines", "--quiet")
    assert again.returncode == 0, again.stderr
    day2 = (clean_landing / "orders" / "2026-01-02.csv").read_text().count("\n") - 1
    assert local_warehouse.scalar("select count(*) from bronze.orders") == before + day2
    assert (
        local_warehouse.scalar(
            "select count(*) from bronze._load_audit "
            "where status = 'loaded' and file_path like '%2026-01-02%'"
        )
        == 2
    )


def test_generator_loader_and_dbt_sources_agree_with_the_contracts(clean_landing, tmp_path):
    # 1. the generator writes exactly the contract's columns
    for name, contract in CONTRACTS.items():
        header = next((clean_landing / name).glob("*.csv")).read_text().split("\n", 1)[0]
        assert header.split(",") == contract.column_names, name
    # 2. the loader creates bronze tables with the contract's columns and types, plus metadata
    import duckdb

    from ingestion.backends.duckdb import DuckDBBackend

    with DuckDBBackend(tmp_path / "w.duckdb") as backend:
        backend.ensure_schema()
        for name, contract in CONTRACTS.items():
            cols = backend.query(
                "select column_name, lower(data_type) from information_schema.columns "
                f"where table_schema = 'bronze' and table_name = '{name}' order by ordinal_position"
            )
            expected = [(c.name, c.type) for c in contract.columns] + list(META_COLUMNS)
            assert [c for c, _ in cols] == [c for c, _ in expected], name
            for (col, actual), (_, logical) in zip(cols, expected, strict=True):
                assert actual == duckdb.sqltype(logical.upper()).id.lower() or actual == logical, (
                    name,
                    col,
                    actual,
                    logical,
                )
    # 3. dbt sources declare every bronze table and column with the contract's type
    assert SOURCES_FILE.read_text() == render_sources(), (
        "dbt sources are stale: run python -m ingestion dbt-sources --write"
    )
    sources = yaml.safe_load(SOURCES_FILE.read_text())["sources"][0]
    # freshness from the load audit (a header-only file is fresh): tests/test_dbt_freshness.py
    assert sources["config"]["loaded_at_query"] == LOADED_AT_QUERY
    declared = {
        t["name"]: [(c["name"], c["data_type"]) for c in t["columns"]] for t in sources["tables"]
    }
    assert set(declared) == set(CONTRACTS)
    for name, contract in CONTRACTS.items():
        expected = [(c.name, c.type) for c in contract.columns] + list(META_COLUMNS)
        assert declared[name] == expected, name
