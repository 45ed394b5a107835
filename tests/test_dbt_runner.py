"""One writer per DuckDB file: dbt run in-process never leaves the warehouse locked.

The situation that made ``make run`` fail about half the time: the transform's in-process
``dbt build`` (Cosmos' dbtRunner) left dbt-duckdb's connection open, so the quality checks'
``dbt source freshness`` that followed could not lock the file, and the error was swallowed.
Each scenario runs in a child process of its own (dbt keeps process-wide state), on a DuckDB
warehouse loaded from the committed sample by the production loader.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    from ingestion.backends.duckdb import DuckDBBackend
    from ingestion.landing import discover
    from ingestion.loader import load_files

    path = tmp_path_factory.mktemp("runner") / "w.duckdb"
    with DuckDBBackend(path) as backend:
        report = load_files(backend, discover(ROOT / "sample_data"))
    assert not report.failed and report.count("loaded") > 100
    return path


def _child(script: str, warehouse: Path, tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "DUCKDB_PATH": str(warehouse),
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_LOCK_TIMEOUT": "2",
        "PYTHONPATH": str(ROOT),
    }
    env.setdefault("PII_HASH_KEY", "ab" * 32)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


OPEN_ELSEWHERE = """
import json, os, subprocess, sys

def open_elsewhere():
    # another process opens the warehouse for writing, as a dbt subprocess or a loader does
    code = "import duckdb, os; duckdb.connect(os.environ['DUCKDB_PATH']).execute('select 1')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.returncode == 0, done.stderr.strip().splitlines()[-1:]
"""


def test_quality_checks_right_after_an_in_process_transform(warehouse, tmp_path):
    got = _child(
        OPEN_ELSEWHERE
        + textwrap.dedent(
            """
        from dbt.cli.main import dbtRunner
        from platform_core.dbt_runner import dbt_args, dbt_env, release_warehouse, run
        from platform_core.paths import DBT_PROJECT
        os.environ.update(dbt_env("duckdb"))
        out = {}
        # 1. the transform as Cosmos runs it: dbt's runner in this process, nothing released
        args = dbt_args("duckdb", ("run", "--select", "stg_bronze__orders"), DBT_PROJECT / "target" / "t1")
        assert dbtRunner().invoke(args).success
        out["after_cosmos"] = open_elsewhere()
        # 2. what Cosmos' operators now call when a task ends (post_execute)
        release_warehouse()
        out["after_release"] = open_elsewhere()
        # 3. the platform's runner releases by itself; the quality checks' freshness follows
        run("duckdb", "run", "--select", "stg_bronze__orders", target_path=DBT_PROJECT / "target" / "t2")
        out["after_runner"] = open_elsewhere()
        from quality.freshness import dbt_sources
        items = dbt_sources(DBT_PROJECT / "target" / "t3")
        out["freshness"] = sorted({i.status for i in items})
        out["sources"] = len(items)
        out["after_freshness"] = open_elsewhere()
        print(json.dumps(out))
        """
        ),
        warehouse,
        tmp_path,
    )
    # the situation is real: an in-process dbt run holds the file...
    ok, err = got["after_cosmos"]
    assert not ok and "lock" in " ".join(err).lower(), err
    # ...and released, the file is free again
    assert got["after_release"][0], got["after_release"]
    assert got["after_runner"][0], got["after_runner"]
    assert got["after_freshness"][0], got["after_freshness"]
    assert got["sources"] >= 10 and got["freshness"], got


def test_a_dbt_failure_shows_dbts_own_reason(warehouse, tmp_path):
    """The warehouse held by another process: freshness fails and says so, naming the lock."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        got = _child(
            """
            import json
            from platform_core.dbt_runner import DbtFailed
            from quality.freshness import dbt_sources
            try:
                dbt_sources()
                print(json.dumps({"raised": None}))
            except DbtFailed as exc:
                print(json.dumps({"raised": str(exc), "lines": exc.lines}))
            """,
            warehouse,
            tmp_path,
        )
    finally:
        os.kill(holder.pid, signal.SIGTERM)
        holder.wait(timeout=30)
    assert got["raised"], "a locked warehouse must fail the freshness check"
    assert got["raised"].startswith("dbt source freshness failed")
    text = got["raised"].lower()
    assert "lock" in text and str(holder.pid) in got["raised"], got["raised"]
    assert "traceback" not in text
