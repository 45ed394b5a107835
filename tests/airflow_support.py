"""Helpers for tests that run Airflow for real: a private Airflow home, warehouse and landing zone
per test module, built with the same ``orchestration.home`` settings ``make run`` uses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def platform_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of a private local Airflow + DuckDB warehouse under ``work``."""
    from orchestration.home import airflow_env

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "DUCKDB_PATH", "LANDING_DIR", "PLATFORM_", "WAREHOUSE_"))
    }
    base.update(
        {
            "PLATFORM_LOCAL_DIR": str(work / "local"),
            "AIRFLOW_HOME": str(work / "airflow"),
            "DUCKDB_PATH": str(work / "warehouse.duckdb"),
            "LANDING_DIR": str(work / "landing"),
            "DBT_MANIFEST_PATH": str(work / "dbt_target" / "manifest.json"),
            "WAREHOUSE_TARGET": "duckdb",
            "PIPELINE_START": "2026-01-01",
            "GENERATOR_SCALE": "0.2",
            "GENERATOR_SEED": "42",
            "ALERT_STATE_PATH": str(work / "alerts.sqlite"),
            # the GX project is rewritten by every check run: one per test, no races
            "QUALITY_GX_ROOT": str(work / "gx_root"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow' / 'mlflow.db'}",
            "MLFLOW_ARTIFACT_LOCATION": (work / "mlflow" / "artifacts").as_uri(),
            **extra,
        }
    )
    return airflow_env(base)


def run(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        list(args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def build_warehouse(env: dict[str, str], work: Path) -> None:
    """Bronze from the committed sample (through the production loader), then a full dbt build,
    and the manifest the transform DAG renders from."""
    shutil.copytree(SAMPLE, work / "landing")
    run(env, PY, "-m", "ingestion", "load", "--all", "--quiet")
    dbt = str(Path(PY).parent / "dbt")
    common = [
        "--project-dir",
        str(ROOT / "dbt_project"),
        "--profiles-dir",
        str(ROOT / "dbt_project"),
        "--target-path",
        str(work / "dbt_target"),
        "--log-path",
        str(work / "dbt_logs"),
        "--no-version-check",
    ]
    run(env, dbt, "build", "--quiet", *common)
