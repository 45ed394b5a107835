"""The metrics API's tests share one warehouse: the committed sample data (14 days from
2026-01-01, scale 0.2: what ``make run`` builds) loaded by the production loader and built by
``dbt build`` (the models; the dbt tests run in tests/test_dbt*.py). It is built once
per test session, shared by the pytest-xdist workers (a file lock), and only ever opened
read-only by the API; tests that need a writer or extra tables work on a copy.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from benchmarks.api import Server, build_sample_warehouse, free_port

ROOT = Path(__file__).resolve().parent.parent
LAST_DAY = date(2026, 1, 14)  # the sample data's last day: "today" in questions


@dataclass(frozen=True)
class SampleWarehouse:
    duckdb: Path
    manifest: Path

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        import duckdb

        with duckdb.connect(str(self.duckdb), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | None = None):
        return self.query(sql, params)[0][0]

    def copy(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / self.duckdb.name
        shutil.copy(self.duckdb, target)
        return target


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory, worker_id) -> SampleWarehouse:
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base
    # API_TEST_WAREHOUSE_DIR: keep it between runs while working on the API (a stale one is
    # yours to delete; CI never sets it)
    root = Path(os.environ.get("API_TEST_WAREHOUSE_DIR") or root)
    root.mkdir(parents=True, exist_ok=True)
    work = root / "api-sample-warehouse"
    with FileLock(str(root / "api-sample-warehouse.lock")):
        done = work / "done.json"
        if not done.is_file():
            shutil.rmtree(work, ignore_errors=True)
            built = build_sample_warehouse(work)
            done.write_text(json.dumps({"duckdb": str(built[0]), "manifest": str(built[1])}))
        paths = json.loads(done.read_text())
    return SampleWarehouse(Path(paths["duckdb"]), Path(paths["manifest"]))


def api_env(warehouse: SampleWarehouse, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an API over ``warehouse`` (in-process cache unless REDIS_URL)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "SEMANTIC_MANIFEST", "API_TODAY", "MARTS_BUILD_FILE")
    }
    return {
        **env,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(warehouse.duckdb),
        "SEMANTIC_MANIFEST": str(warehouse.manifest),
        "MARTS_BUILD_FILE": str(tmp_path / "marts_build.json"),
        "API_STATE_DIR": str(tmp_path / "api_state"),
        **extra,
    }


__all__ = ["LAST_DAY", "SampleWarehouse", "Server", "api_env", "free_port", "sample_warehouse"]
