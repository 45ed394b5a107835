"""``make clean`` removes every piece of local state a run leaves (an old champion in MLflow, alert
suppression state, Airflow's history, the warehouse) and keeps only the uv bootstrap and the PII
hash key, saying so. Run on a copy of the Makefile alone, in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

GONE = [
    "data/landing/orders/2026-01-01.csv",
    ".local/mlflow/mlflow.db",
    ".local/quality/data_docs/index.html",
    ".local/alerts/state.sqlite",
    ".local/airflow/airflow.db",
    ".local/warehouse.duckdb",
    ".local/warehouse.duckdb.wal",
    ".local/marts_build.json",
    "dbt_project/target/manifest.json",
    "dbt_project/logs/dbt.log",
]
KEPT = [
    ".local/bootstrap/bin/uv",
    ".local/pii_hash_key",
    ".venv/bin/python",
    "dbt_project/dbt_project.yml",
]


@pytest.fixture
def cleaned(tmp_path) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in GONE + KEPT:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    return subprocess.run(
        ["make", "clean"], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    )


def test_make_clean_removes_all_local_state_but_the_uv_bootstrap_and_the_pii_key(cleaned, tmp_path):
    assert [name for name in GONE if (tmp_path / name).exists()] == []
    assert sorted(p.name for p in (tmp_path / ".local").iterdir()) == ["bootstrap", "pii_hash_key"]
    assert [name for name in KEPT if not (tmp_path / name).is_file()] == []


def test_make_clean_says_what_it_kept_and_why(cleaned):
    kept = [line for line in cleaned.stdout.splitlines() if line.startswith("kept ")]
    assert len(kept) == 1, cleaned.stdout
    assert ".local/pii_hash_key" in kept[0] and ".local/bootstrap" in kept[0]
    assert "a new key changes every personal-data hash" in kept[0]
